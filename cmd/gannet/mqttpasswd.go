package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/gannetmq/gannet/protocols/mqtt"
)

// runMQTTPasswd prints the MQTT auth file line for a user: "gannet
// mqtt-passwd NAME" asks for the password twice without echo on a
// terminal, and reads it as the first line of standard input otherwise, so
// that it never has to appear on a command line or in shell history.
func runMQTTPasswd(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mqtt-passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gannet mqtt-passwd NAME   (password from the terminal or the first line of stdin)")
		fmt.Fprintln(stderr, "prints a \"user NAME HASH\" line for the MQTT auth file")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	var pw string
	var err error
	if term.IsTerminal(int(stdin.Fd())) {
		pw, err = promptPassword(int(stdin.Fd()), stderr)
	} else {
		pw, err = firstLine(stdin)
	}
	if err == nil {
		var line string
		if line, err = mqtt.UserLine(fs.Arg(0), pw); err == nil {
			fmt.Fprintln(stdout, line)
			return 0
		}
	}
	fmt.Fprintf(stderr, "gannet mqtt-passwd: %v\n", err)
	return 1
}

func promptPassword(fd int, prompt io.Writer) (string, error) {
	fmt.Fprint(prompt, "password: ")
	a, err := term.ReadPassword(fd)
	fmt.Fprintln(prompt)
	if err != nil {
		return "", err
	}
	fmt.Fprint(prompt, "again: ")
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(prompt)
	if err != nil {
		return "", err
	}
	if string(a) != string(b) {
		return "", errors.New("the passwords differ")
	}
	return string(a), nil
}

func firstLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	return strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"), nil
}
