package remoting

// routerDirect is the number of codes kept in the router's array. Every
// code the Java clients send to a broker or name server is below it; the
// 5.x POP codes (200050...) and negative codes go to a map.
const routerDirect = 4096

// Router maps request codes to processors. It is filled once, before the
// server starts; Register after Serve is a data race. Lookups of codes
// below 4096 index an array.
type Router struct {
	direct [routerDirect]Processor
	other  map[int32]Processor
}

// NewRouter returns an empty router.
func NewRouter() *Router { return &Router{} }

// Register sets the processor of a request code, replacing any earlier
// one; a nil p removes it.
func (r *Router) Register(code int32, p Processor) {
	if code >= 0 && code < routerDirect {
		r.direct[code] = p
		return
	}
	if p == nil {
		delete(r.other, code)
		return
	}
	if r.other == nil {
		r.other = make(map[int32]Processor)
	}
	r.other[code] = p
}

// Processor returns the processor of a request code, or nil.
func (r *Router) Processor(code int32) Processor {
	if r == nil {
		return nil
	}
	if uint32(code) < routerDirect {
		return r.direct[code]
	}
	return r.other[code]
}
