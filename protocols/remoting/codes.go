package remoting

import "strconv"

// Request and response codes of the remoting protocol. Request and response
// codes share one number space per direction: a command's Code is a request
// code when the response flag is clear and a response code when it is set.
// Numbers and names are Apache RocketMQ's RequestCode, ResponseCode and
// RemotingSysResponseCode (5.x HEAD plus the 4.x ACL codes 50..54); see
// the protocol reference, sections 2 and 3.1. The names in the tables below
// are the Java ones, so a log line can be grepped against the Java source.

// Request codes.
const (
	ReqSendMessage                          int32 = 10
	ReqPullMessage                          int32 = 11
	ReqQueryMessage                         int32 = 12
	ReqQueryBrokerOffset                    int32 = 13
	ReqQueryConsumerOffset                  int32 = 14
	ReqUpdateConsumerOffset                 int32 = 15
	ReqUpdateAndCreateTopic                 int32 = 17
	ReqUpdateAndCreateTopicList             int32 = 18
	ReqGetAllTopicConfig                    int32 = 21
	ReqGetTopicConfigList                   int32 = 22
	ReqGetTopicNameList                     int32 = 23
	ReqUpdateBrokerConfig                   int32 = 25
	ReqGetBrokerConfig                      int32 = 26
	ReqTriggerDeleteFiles                   int32 = 27
	ReqGetBrokerRuntimeInfo                 int32 = 28
	ReqSearchOffsetByTimestamp              int32 = 29
	ReqGetMaxOffset                         int32 = 30
	ReqGetMinOffset                         int32 = 31
	ReqGetEarliestMsgStoretime              int32 = 32
	ReqViewMessageByID                      int32 = 33
	ReqHeartBeat                            int32 = 34
	ReqUnregisterClient                     int32 = 35
	ReqConsumerSendMsgBack                  int32 = 36
	ReqEndTransaction                       int32 = 37
	ReqGetConsumerListByGroup               int32 = 38
	ReqCheckTransactionState                int32 = 39
	ReqNotifyConsumerIdsChanged             int32 = 40
	ReqLockBatchMQ                          int32 = 41
	ReqUnlockBatchMQ                        int32 = 42
	ReqGetAllConsumerOffset                 int32 = 43
	ReqGetAllDelayOffset                    int32 = 45
	ReqCheckClientConfig                    int32 = 46
	ReqGetClientConfig                      int32 = 47
	ReqUpdateAndCreateACLConfig             int32 = 50
	ReqDeleteACLConfig                      int32 = 51
	ReqGetBrokerClusterACLInfo              int32 = 52
	ReqUpdateGlobalWhiteAddrsConfig         int32 = 53
	ReqGetBrokerClusterACLConfig            int32 = 54
	ReqGetTimerCheckPoint                   int32 = 60
	ReqGetTimerMetrics                      int32 = 61
	ReqPutKVConfig                          int32 = 100
	ReqGetKVConfig                          int32 = 101
	ReqDeleteKVConfig                       int32 = 102
	ReqRegisterBroker                       int32 = 103
	ReqUnregisterBroker                     int32 = 104
	ReqGetRouteinfoByTopic                  int32 = 105
	ReqGetBrokerClusterInfo                 int32 = 106
	ReqUpdateAndCreateSubscriptiongroup     int32 = 200
	ReqGetAllSubscriptiongroupConfig        int32 = 201
	ReqGetTopicStatsInfo                    int32 = 202
	ReqGetConsumerConnectionList            int32 = 203
	ReqGetProducerConnectionList            int32 = 204
	ReqWipeWritePermOfBroker                int32 = 205
	ReqGetAllTopicListFromNameserver        int32 = 206
	ReqDeleteSubscriptiongroup              int32 = 207
	ReqGetConsumeStats                      int32 = 208
	ReqSuspendConsumer                      int32 = 209
	ReqResumeConsumer                       int32 = 210
	ReqResetConsumerOffsetInConsumer        int32 = 211
	ReqResetConsumerOffsetInBroker          int32 = 212
	ReqAdjustConsumerThreadPool             int32 = 213
	ReqWhoConsumeTheMessage                 int32 = 214
	ReqDeleteTopicInBroker                  int32 = 215
	ReqDeleteTopicInNamesrv                 int32 = 216
	ReqRegisterTopicInNamesrv               int32 = 217
	ReqGetKvlistByNamespace                 int32 = 219
	ReqResetConsumerClientOffset            int32 = 220
	ReqGetConsumerStatusFromClient          int32 = 221
	ReqInvokeBrokerToResetOffset            int32 = 222
	ReqInvokeBrokerToGetConsumerStatus      int32 = 223
	ReqGetTopicsByCluster                   int32 = 224
	ReqUpdateAndCreateSubscriptiongroupList int32 = 225
	ReqQueryTopicConsumeByWho               int32 = 300
	ReqRegisterFilterServer                 int32 = 301
	ReqRegisterMessageFilterClass           int32 = 302
	ReqQueryConsumeTimeSpan                 int32 = 303
	ReqGetSystemTopicListFromNS             int32 = 304
	ReqGetSystemTopicListFromBroker         int32 = 305
	ReqCleanExpiredConsumequeue             int32 = 306
	ReqGetConsumerRunningInfo               int32 = 307
	ReqQueryCorrectionOffset                int32 = 308
	ReqConsumeMessageDirectly               int32 = 309
	ReqSendMessageV2                        int32 = 310
	ReqGetUnitTopicList                     int32 = 311
	ReqGetHasUnitSubTopicList               int32 = 312
	ReqGetHasUnitSubUnunitTopicList         int32 = 313
	ReqCloneGroupOffset                     int32 = 314
	ReqViewBrokerStatsData                  int32 = 315
	ReqCleanUnusedTopic                     int32 = 316
	ReqGetBrokerConsumeStats                int32 = 317
	ReqUpdateNamesrvConfig                  int32 = 318
	ReqGetNamesrvConfig                     int32 = 319
	ReqSendBatchMessage                     int32 = 320
	ReqQueryConsumeQueue                    int32 = 321
	ReqQueryDataVersion                     int32 = 322
	ReqResumeCheckHalfMessage               int32 = 323
	ReqSendReplyMessage                     int32 = 324
	ReqSendReplyMessageV2                   int32 = 325
	ReqPushReplyMessageToClient             int32 = 326
	ReqAddWritePermOfBroker                 int32 = 327
	ReqGetAllProducerInfo                   int32 = 328
	ReqDeleteExpiredCommitlog               int32 = 329
	ReqQueryTopicsByConsumer                int32 = 343
	ReqQuerySubscriptionByConsumer          int32 = 345
	ReqGetTopicConfig                       int32 = 351
	ReqGetSubscriptiongroupConfig           int32 = 352
	ReqUpdateAndGetGroupForbidden           int32 = 353
	ReqCheckRocksdbCQWriteProgress          int32 = 354
	ReqLitePullMessage                      int32 = 361
	ReqQueryAssignment                      int32 = 400
	ReqSetMessageRequestMode                int32 = 401
	ReqGetAllMessageRequestMode             int32 = 402
	ReqUpdateAndCreateStaticTopic           int32 = 513
	ReqGetBrokerMemberGroup                 int32 = 901
	ReqAddBroker                            int32 = 902
	ReqRemoveBroker                         int32 = 903
	ReqBrokerHeartbeat                      int32 = 904
	ReqNotifyMinBrokerIDChange              int32 = 905
	ReqExchangeBrokerHAInfo                 int32 = 906
	ReqGetBrokerHAStatus                    int32 = 907
	ReqResetMasterFlushOffset               int32 = 908
	ReqControllerAlterSyncStateSet          int32 = 1001
	ReqControllerElectMaster                int32 = 1002
	ReqControllerRegisterBroker             int32 = 1003
	ReqControllerGetReplicaInfo             int32 = 1004
	ReqControllerGetMetadataInfo            int32 = 1005
	ReqControllerGetSyncStateData           int32 = 1006
	ReqGetBrokerEpochCache                  int32 = 1007
	ReqNotifyBrokerRoleChanged              int32 = 1008
	ReqUpdateControllerConfig               int32 = 1009
	ReqGetControllerConfig                  int32 = 1010
	ReqCleanBrokerData                      int32 = 1011
	ReqControllerGetNextBrokerID            int32 = 1012
	ReqControllerApplyBrokerID              int32 = 1013
	ReqUpdateColdDataFlowCtrConfig          int32 = 2001
	ReqRemoveColdDataFlowCtrConfig          int32 = 2002
	ReqGetColdDataFlowCtrInfo               int32 = 2003
	ReqSetCommitlogReadMode                 int32 = 2004
	ReqAuthCreateUser                       int32 = 3001
	ReqAuthUpdateUser                       int32 = 3002
	ReqAuthDeleteUser                       int32 = 3003
	ReqAuthGetUser                          int32 = 3004
	ReqAuthListUser                         int32 = 3005
	ReqAuthCreateACL                        int32 = 3006
	ReqAuthUpdateACL                        int32 = 3007
	ReqAuthDeleteACL                        int32 = 3008
	ReqAuthGetACL                           int32 = 3009
	ReqAuthListACL                          int32 = 3010
	ReqPopMessage                           int32 = 200050
	ReqAckMessage                           int32 = 200051
	ReqPeekMessage                          int32 = 200052
	ReqChangeMessageInvisibletime           int32 = 200053
	ReqNotification                         int32 = 200054
	ReqPollingInfo                          int32 = 200055
	ReqBatchAckMessage                      int32 = 200151
)

// Response codes. 209..211 carried other meanings in 4.x
// (UPDATE_AND_CREATE_ACL_CONFIG_FAILED, DELETE_ACL_CONFIG_FAILED,
// UPDATE_GLOBAL_WHITE_ADDRS_CONFIG_FAILED); the 5.x names are used here.
// The RPC_* codes are client-local and never appear on the wire.
const (
	ResSuccess                              int32 = 0
	ResSystemError                          int32 = 1
	ResSystemBusy                           int32 = 2
	ResRequestCodeNotSupported              int32 = 3
	ResTransactionFailed                    int32 = 4
	ResFlushDiskTimeout                     int32 = 10
	ResSlaveNotAvailable                    int32 = 11
	ResFlushSlaveTimeout                    int32 = 12
	ResMessageIllegal                       int32 = 13
	ResServiceNotAvailable                  int32 = 14
	ResVersionNotSupported                  int32 = 15
	ResNoPermission                         int32 = 16
	ResTopicNotExist                        int32 = 17
	ResTopicExistAlready                    int32 = 18
	ResPullNotFound                         int32 = 19
	ResPullRetryImmediately                 int32 = 20
	ResPullOffsetMoved                      int32 = 21
	ResQueryNotFound                        int32 = 22
	ResSubscriptionParseFailed              int32 = 23
	ResSubscriptionNotExist                 int32 = 24
	ResSubscriptionNotLatest                int32 = 25
	ResSubscriptionGroupNotExist            int32 = 26
	ResFilterDataNotExist                   int32 = 27
	ResFilterDataNotLatest                  int32 = 28
	ResInvalidParameter                     int32 = 29
	ResTransactionShouldCommit              int32 = 200
	ResTransactionShouldRollback            int32 = 201
	ResTransactionStateUnknow               int32 = 202
	ResTransactionStateGroupWrong           int32 = 203
	ResNoBuyerID                            int32 = 204
	ResNotInCurrentUnit                     int32 = 205
	ResConsumerNotOnline                    int32 = 206
	ResConsumeMsgTimeout                    int32 = 207
	ResNoMessage                            int32 = 208
	ResPollingFull                          int32 = 209
	ResPollingTimeout                       int32 = 210
	ResBrokerNotExist                       int32 = 211
	ResBrokerDispatchNotComplete            int32 = 212
	ResBroadcastConsumption                 int32 = 213
	ResFlowControl                          int32 = 215
	ResNotLeaderForQueue                    int32 = 501
	ResIllegalOperation                     int32 = 604
	ResGoAway                               int32 = 1500
	ResControllerFencedMasterEpoch          int32 = 2000
	ResControllerFencedSyncStateSetEpoch    int32 = 2001
	ResControllerInvalidMaster              int32 = 2002
	ResControllerInvalidReplicas            int32 = 2003
	ResControllerMasterNotAvailable         int32 = 2004
	ResControllerInvalidRequest             int32 = 2005
	ResControllerBrokerNotAlive             int32 = 2006
	ResControllerNotLeader                  int32 = 2007
	ResControllerBrokerMetadataNotExist     int32 = 2008
	ResControllerInvalidCleanBrokerMetadata int32 = 2009
	ResControllerBrokerNeedToBeRegistered   int32 = 2010
	ResControllerMasterStillExist           int32 = 2011
	ResControllerElectMasterFailed          int32 = 2012
	ResControllerAlterSyncStateSetFailed    int32 = 2013
	ResControllerBrokerIDInvalid            int32 = 2014
	ResControllerJraftInternalError         int32 = 2015
	ResControllerBrokerLiveInfoNotExists    int32 = 2016
	ResUserNotExist                         int32 = 3001
	ResPolicyNotExist                       int32 = 3002
	ResRPCUnknown                           int32 = -1000
	ResRPCAddrIsNull                        int32 = -1002
	ResRPCSendToChannelFailed               int32 = -1004
	ResRPCTimeOut                           int32 = -1006
)

var requestCodeNames = map[int32]string{
	ReqSendMessage:                          "SEND_MESSAGE",
	ReqPullMessage:                          "PULL_MESSAGE",
	ReqQueryMessage:                         "QUERY_MESSAGE",
	ReqQueryBrokerOffset:                    "QUERY_BROKER_OFFSET",
	ReqQueryConsumerOffset:                  "QUERY_CONSUMER_OFFSET",
	ReqUpdateConsumerOffset:                 "UPDATE_CONSUMER_OFFSET",
	ReqUpdateAndCreateTopic:                 "UPDATE_AND_CREATE_TOPIC",
	ReqUpdateAndCreateTopicList:             "UPDATE_AND_CREATE_TOPIC_LIST",
	ReqGetAllTopicConfig:                    "GET_ALL_TOPIC_CONFIG",
	ReqGetTopicConfigList:                   "GET_TOPIC_CONFIG_LIST",
	ReqGetTopicNameList:                     "GET_TOPIC_NAME_LIST",
	ReqUpdateBrokerConfig:                   "UPDATE_BROKER_CONFIG",
	ReqGetBrokerConfig:                      "GET_BROKER_CONFIG",
	ReqTriggerDeleteFiles:                   "TRIGGER_DELETE_FILES",
	ReqGetBrokerRuntimeInfo:                 "GET_BROKER_RUNTIME_INFO",
	ReqSearchOffsetByTimestamp:              "SEARCH_OFFSET_BY_TIMESTAMP",
	ReqGetMaxOffset:                         "GET_MAX_OFFSET",
	ReqGetMinOffset:                         "GET_MIN_OFFSET",
	ReqGetEarliestMsgStoretime:              "GET_EARLIEST_MSG_STORETIME",
	ReqViewMessageByID:                      "VIEW_MESSAGE_BY_ID",
	ReqHeartBeat:                            "HEART_BEAT",
	ReqUnregisterClient:                     "UNREGISTER_CLIENT",
	ReqConsumerSendMsgBack:                  "CONSUMER_SEND_MSG_BACK",
	ReqEndTransaction:                       "END_TRANSACTION",
	ReqGetConsumerListByGroup:               "GET_CONSUMER_LIST_BY_GROUP",
	ReqCheckTransactionState:                "CHECK_TRANSACTION_STATE",
	ReqNotifyConsumerIdsChanged:             "NOTIFY_CONSUMER_IDS_CHANGED",
	ReqLockBatchMQ:                          "LOCK_BATCH_MQ",
	ReqUnlockBatchMQ:                        "UNLOCK_BATCH_MQ",
	ReqGetAllConsumerOffset:                 "GET_ALL_CONSUMER_OFFSET",
	ReqGetAllDelayOffset:                    "GET_ALL_DELAY_OFFSET",
	ReqCheckClientConfig:                    "CHECK_CLIENT_CONFIG",
	ReqGetClientConfig:                      "GET_CLIENT_CONFIG",
	ReqUpdateAndCreateACLConfig:             "UPDATE_AND_CREATE_ACL_CONFIG",
	ReqDeleteACLConfig:                      "DELETE_ACL_CONFIG",
	ReqGetBrokerClusterACLInfo:              "GET_BROKER_CLUSTER_ACL_INFO",
	ReqUpdateGlobalWhiteAddrsConfig:         "UPDATE_GLOBAL_WHITE_ADDRS_CONFIG",
	ReqGetBrokerClusterACLConfig:            "GET_BROKER_CLUSTER_ACL_CONFIG",
	ReqGetTimerCheckPoint:                   "GET_TIMER_CHECK_POINT",
	ReqGetTimerMetrics:                      "GET_TIMER_METRICS",
	ReqPutKVConfig:                          "PUT_KV_CONFIG",
	ReqGetKVConfig:                          "GET_KV_CONFIG",
	ReqDeleteKVConfig:                       "DELETE_KV_CONFIG",
	ReqRegisterBroker:                       "REGISTER_BROKER",
	ReqUnregisterBroker:                     "UNREGISTER_BROKER",
	ReqGetRouteinfoByTopic:                  "GET_ROUTEINFO_BY_TOPIC",
	ReqGetBrokerClusterInfo:                 "GET_BROKER_CLUSTER_INFO",
	ReqUpdateAndCreateSubscriptiongroup:     "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP",
	ReqGetAllSubscriptiongroupConfig:        "GET_ALL_SUBSCRIPTIONGROUP_CONFIG",
	ReqGetTopicStatsInfo:                    "GET_TOPIC_STATS_INFO",
	ReqGetConsumerConnectionList:            "GET_CONSUMER_CONNECTION_LIST",
	ReqGetProducerConnectionList:            "GET_PRODUCER_CONNECTION_LIST",
	ReqWipeWritePermOfBroker:                "WIPE_WRITE_PERM_OF_BROKER",
	ReqGetAllTopicListFromNameserver:        "GET_ALL_TOPIC_LIST_FROM_NAMESERVER",
	ReqDeleteSubscriptiongroup:              "DELETE_SUBSCRIPTIONGROUP",
	ReqGetConsumeStats:                      "GET_CONSUME_STATS",
	ReqSuspendConsumer:                      "SUSPEND_CONSUMER",
	ReqResumeConsumer:                       "RESUME_CONSUMER",
	ReqResetConsumerOffsetInConsumer:        "RESET_CONSUMER_OFFSET_IN_CONSUMER",
	ReqResetConsumerOffsetInBroker:          "RESET_CONSUMER_OFFSET_IN_BROKER",
	ReqAdjustConsumerThreadPool:             "ADJUST_CONSUMER_THREAD_POOL",
	ReqWhoConsumeTheMessage:                 "WHO_CONSUME_THE_MESSAGE",
	ReqDeleteTopicInBroker:                  "DELETE_TOPIC_IN_BROKER",
	ReqDeleteTopicInNamesrv:                 "DELETE_TOPIC_IN_NAMESRV",
	ReqRegisterTopicInNamesrv:               "REGISTER_TOPIC_IN_NAMESRV",
	ReqGetKvlistByNamespace:                 "GET_KVLIST_BY_NAMESPACE",
	ReqResetConsumerClientOffset:            "RESET_CONSUMER_CLIENT_OFFSET",
	ReqGetConsumerStatusFromClient:          "GET_CONSUMER_STATUS_FROM_CLIENT",
	ReqInvokeBrokerToResetOffset:            "INVOKE_BROKER_TO_RESET_OFFSET",
	ReqInvokeBrokerToGetConsumerStatus:      "INVOKE_BROKER_TO_GET_CONSUMER_STATUS",
	ReqGetTopicsByCluster:                   "GET_TOPICS_BY_CLUSTER",
	ReqUpdateAndCreateSubscriptiongroupList: "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP_LIST",
	ReqQueryTopicConsumeByWho:               "QUERY_TOPIC_CONSUME_BY_WHO",
	ReqRegisterFilterServer:                 "REGISTER_FILTER_SERVER",
	ReqRegisterMessageFilterClass:           "REGISTER_MESSAGE_FILTER_CLASS",
	ReqQueryConsumeTimeSpan:                 "QUERY_CONSUME_TIME_SPAN",
	ReqGetSystemTopicListFromNS:             "GET_SYSTEM_TOPIC_LIST_FROM_NS",
	ReqGetSystemTopicListFromBroker:         "GET_SYSTEM_TOPIC_LIST_FROM_BROKER",
	ReqCleanExpiredConsumequeue:             "CLEAN_EXPIRED_CONSUMEQUEUE",
	ReqGetConsumerRunningInfo:               "GET_CONSUMER_RUNNING_INFO",
	ReqQueryCorrectionOffset:                "QUERY_CORRECTION_OFFSET",
	ReqConsumeMessageDirectly:               "CONSUME_MESSAGE_DIRECTLY",
	ReqSendMessageV2:                        "SEND_MESSAGE_V2",
	ReqGetUnitTopicList:                     "GET_UNIT_TOPIC_LIST",
	ReqGetHasUnitSubTopicList:               "GET_HAS_UNIT_SUB_TOPIC_LIST",
	ReqGetHasUnitSubUnunitTopicList:         "GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST",
	ReqCloneGroupOffset:                     "CLONE_GROUP_OFFSET",
	ReqViewBrokerStatsData:                  "VIEW_BROKER_STATS_DATA",
	ReqCleanUnusedTopic:                     "CLEAN_UNUSED_TOPIC",
	ReqGetBrokerConsumeStats:                "GET_BROKER_CONSUME_STATS",
	ReqUpdateNamesrvConfig:                  "UPDATE_NAMESRV_CONFIG",
	ReqGetNamesrvConfig:                     "GET_NAMESRV_CONFIG",
	ReqSendBatchMessage:                     "SEND_BATCH_MESSAGE",
	ReqQueryConsumeQueue:                    "QUERY_CONSUME_QUEUE",
	ReqQueryDataVersion:                     "QUERY_DATA_VERSION",
	ReqResumeCheckHalfMessage:               "RESUME_CHECK_HALF_MESSAGE",
	ReqSendReplyMessage:                     "SEND_REPLY_MESSAGE",
	ReqSendReplyMessageV2:                   "SEND_REPLY_MESSAGE_V2",
	ReqPushReplyMessageToClient:             "PUSH_REPLY_MESSAGE_TO_CLIENT",
	ReqAddWritePermOfBroker:                 "ADD_WRITE_PERM_OF_BROKER",
	ReqGetAllProducerInfo:                   "GET_ALL_PRODUCER_INFO",
	ReqDeleteExpiredCommitlog:               "DELETE_EXPIRED_COMMITLOG",
	ReqQueryTopicsByConsumer:                "QUERY_TOPICS_BY_CONSUMER",
	ReqQuerySubscriptionByConsumer:          "QUERY_SUBSCRIPTION_BY_CONSUMER",
	ReqGetTopicConfig:                       "GET_TOPIC_CONFIG",
	ReqGetSubscriptiongroupConfig:           "GET_SUBSCRIPTIONGROUP_CONFIG",
	ReqUpdateAndGetGroupForbidden:           "UPDATE_AND_GET_GROUP_FORBIDDEN",
	ReqCheckRocksdbCQWriteProgress:          "CHECK_ROCKSDB_CQ_WRITE_PROGRESS",
	ReqLitePullMessage:                      "LITE_PULL_MESSAGE",
	ReqQueryAssignment:                      "QUERY_ASSIGNMENT",
	ReqSetMessageRequestMode:                "SET_MESSAGE_REQUEST_MODE",
	ReqGetAllMessageRequestMode:             "GET_ALL_MESSAGE_REQUEST_MODE",
	ReqUpdateAndCreateStaticTopic:           "UPDATE_AND_CREATE_STATIC_TOPIC",
	ReqGetBrokerMemberGroup:                 "GET_BROKER_MEMBER_GROUP",
	ReqAddBroker:                            "ADD_BROKER",
	ReqRemoveBroker:                         "REMOVE_BROKER",
	ReqBrokerHeartbeat:                      "BROKER_HEARTBEAT",
	ReqNotifyMinBrokerIDChange:              "NOTIFY_MIN_BROKER_ID_CHANGE",
	ReqExchangeBrokerHAInfo:                 "EXCHANGE_BROKER_HA_INFO",
	ReqGetBrokerHAStatus:                    "GET_BROKER_HA_STATUS",
	ReqResetMasterFlushOffset:               "RESET_MASTER_FLUSH_OFFSET",
	ReqControllerAlterSyncStateSet:          "CONTROLLER_ALTER_SYNC_STATE_SET",
	ReqControllerElectMaster:                "CONTROLLER_ELECT_MASTER",
	ReqControllerRegisterBroker:             "CONTROLLER_REGISTER_BROKER",
	ReqControllerGetReplicaInfo:             "CONTROLLER_GET_REPLICA_INFO",
	ReqControllerGetMetadataInfo:            "CONTROLLER_GET_METADATA_INFO",
	ReqControllerGetSyncStateData:           "CONTROLLER_GET_SYNC_STATE_DATA",
	ReqGetBrokerEpochCache:                  "GET_BROKER_EPOCH_CACHE",
	ReqNotifyBrokerRoleChanged:              "NOTIFY_BROKER_ROLE_CHANGED",
	ReqUpdateControllerConfig:               "UPDATE_CONTROLLER_CONFIG",
	ReqGetControllerConfig:                  "GET_CONTROLLER_CONFIG",
	ReqCleanBrokerData:                      "CLEAN_BROKER_DATA",
	ReqControllerGetNextBrokerID:            "CONTROLLER_GET_NEXT_BROKER_ID",
	ReqControllerApplyBrokerID:              "CONTROLLER_APPLY_BROKER_ID",
	ReqUpdateColdDataFlowCtrConfig:          "UPDATE_COLD_DATA_FLOW_CTR_CONFIG",
	ReqRemoveColdDataFlowCtrConfig:          "REMOVE_COLD_DATA_FLOW_CTR_CONFIG",
	ReqGetColdDataFlowCtrInfo:               "GET_COLD_DATA_FLOW_CTR_INFO",
	ReqSetCommitlogReadMode:                 "SET_COMMITLOG_READ_MODE",
	ReqAuthCreateUser:                       "AUTH_CREATE_USER",
	ReqAuthUpdateUser:                       "AUTH_UPDATE_USER",
	ReqAuthDeleteUser:                       "AUTH_DELETE_USER",
	ReqAuthGetUser:                          "AUTH_GET_USER",
	ReqAuthListUser:                         "AUTH_LIST_USER",
	ReqAuthCreateACL:                        "AUTH_CREATE_ACL",
	ReqAuthUpdateACL:                        "AUTH_UPDATE_ACL",
	ReqAuthDeleteACL:                        "AUTH_DELETE_ACL",
	ReqAuthGetACL:                           "AUTH_GET_ACL",
	ReqAuthListACL:                          "AUTH_LIST_ACL",
	ReqPopMessage:                           "POP_MESSAGE",
	ReqAckMessage:                           "ACK_MESSAGE",
	ReqPeekMessage:                          "PEEK_MESSAGE",
	ReqChangeMessageInvisibletime:           "CHANGE_MESSAGE_INVISIBLETIME",
	ReqNotification:                         "NOTIFICATION",
	ReqPollingInfo:                          "POLLING_INFO",
	ReqBatchAckMessage:                      "BATCH_ACK_MESSAGE",
}

var responseCodeNames = map[int32]string{
	ResSuccess:                              "SUCCESS",
	ResSystemError:                          "SYSTEM_ERROR",
	ResSystemBusy:                           "SYSTEM_BUSY",
	ResRequestCodeNotSupported:              "REQUEST_CODE_NOT_SUPPORTED",
	ResTransactionFailed:                    "TRANSACTION_FAILED",
	ResFlushDiskTimeout:                     "FLUSH_DISK_TIMEOUT",
	ResSlaveNotAvailable:                    "SLAVE_NOT_AVAILABLE",
	ResFlushSlaveTimeout:                    "FLUSH_SLAVE_TIMEOUT",
	ResMessageIllegal:                       "MESSAGE_ILLEGAL",
	ResServiceNotAvailable:                  "SERVICE_NOT_AVAILABLE",
	ResVersionNotSupported:                  "VERSION_NOT_SUPPORTED",
	ResNoPermission:                         "NO_PERMISSION",
	ResTopicNotExist:                        "TOPIC_NOT_EXIST",
	ResTopicExistAlready:                    "TOPIC_EXIST_ALREADY",
	ResPullNotFound:                         "PULL_NOT_FOUND",
	ResPullRetryImmediately:                 "PULL_RETRY_IMMEDIATELY",
	ResPullOffsetMoved:                      "PULL_OFFSET_MOVED",
	ResQueryNotFound:                        "QUERY_NOT_FOUND",
	ResSubscriptionParseFailed:              "SUBSCRIPTION_PARSE_FAILED",
	ResSubscriptionNotExist:                 "SUBSCRIPTION_NOT_EXIST",
	ResSubscriptionNotLatest:                "SUBSCRIPTION_NOT_LATEST",
	ResSubscriptionGroupNotExist:            "SUBSCRIPTION_GROUP_NOT_EXIST",
	ResFilterDataNotExist:                   "FILTER_DATA_NOT_EXIST",
	ResFilterDataNotLatest:                  "FILTER_DATA_NOT_LATEST",
	ResInvalidParameter:                     "INVALID_PARAMETER",
	ResTransactionShouldCommit:              "TRANSACTION_SHOULD_COMMIT",
	ResTransactionShouldRollback:            "TRANSACTION_SHOULD_ROLLBACK",
	ResTransactionStateUnknow:               "TRANSACTION_STATE_UNKNOW",
	ResTransactionStateGroupWrong:           "TRANSACTION_STATE_GROUP_WRONG",
	ResNoBuyerID:                            "NO_BUYER_ID",
	ResNotInCurrentUnit:                     "NOT_IN_CURRENT_UNIT",
	ResConsumerNotOnline:                    "CONSUMER_NOT_ONLINE",
	ResConsumeMsgTimeout:                    "CONSUME_MSG_TIMEOUT",
	ResNoMessage:                            "NO_MESSAGE",
	ResPollingFull:                          "POLLING_FULL",
	ResPollingTimeout:                       "POLLING_TIMEOUT",
	ResBrokerNotExist:                       "BROKER_NOT_EXIST",
	ResBrokerDispatchNotComplete:            "BROKER_DISPATCH_NOT_COMPLETE",
	ResBroadcastConsumption:                 "BROADCAST_CONSUMPTION",
	ResFlowControl:                          "FLOW_CONTROL",
	ResNotLeaderForQueue:                    "NOT_LEADER_FOR_QUEUE",
	ResIllegalOperation:                     "ILLEGAL_OPERATION",
	ResGoAway:                               "GO_AWAY",
	ResControllerFencedMasterEpoch:          "CONTROLLER_FENCED_MASTER_EPOCH",
	ResControllerFencedSyncStateSetEpoch:    "CONTROLLER_FENCED_SYNC_STATE_SET_EPOCH",
	ResControllerInvalidMaster:              "CONTROLLER_INVALID_MASTER",
	ResControllerInvalidReplicas:            "CONTROLLER_INVALID_REPLICAS",
	ResControllerMasterNotAvailable:         "CONTROLLER_MASTER_NOT_AVAILABLE",
	ResControllerInvalidRequest:             "CONTROLLER_INVALID_REQUEST",
	ResControllerBrokerNotAlive:             "CONTROLLER_BROKER_NOT_ALIVE",
	ResControllerNotLeader:                  "CONTROLLER_NOT_LEADER",
	ResControllerBrokerMetadataNotExist:     "CONTROLLER_BROKER_METADATA_NOT_EXIST",
	ResControllerInvalidCleanBrokerMetadata: "CONTROLLER_INVALID_CLEAN_BROKER_METADATA",
	ResControllerBrokerNeedToBeRegistered:   "CONTROLLER_BROKER_NEED_TO_BE_REGISTERED",
	ResControllerMasterStillExist:           "CONTROLLER_MASTER_STILL_EXIST",
	ResControllerElectMasterFailed:          "CONTROLLER_ELECT_MASTER_FAILED",
	ResControllerAlterSyncStateSetFailed:    "CONTROLLER_ALTER_SYNC_STATE_SET_FAILED",
	ResControllerBrokerIDInvalid:            "CONTROLLER_BROKER_ID_INVALID",
	ResControllerJraftInternalError:         "CONTROLLER_JRAFT_INTERNAL_ERROR",
	ResControllerBrokerLiveInfoNotExists:    "CONTROLLER_BROKER_LIVE_INFO_NOT_EXISTS",
	ResUserNotExist:                         "USER_NOT_EXIST",
	ResPolicyNotExist:                       "POLICY_NOT_EXIST",
	ResRPCUnknown:                           "RPC_UNKNOWN",
	ResRPCAddrIsNull:                        "RPC_ADDR_IS_NULL",
	ResRPCSendToChannelFailed:               "RPC_SEND_TO_CHANNEL_FAILED",
	ResRPCTimeOut:                           "RPC_TIME_OUT",
}

// CodeName returns the Java name of a request code ("SEND_MESSAGE_V2"), or
// the number in decimal when the code is unknown. It is meant for logs; use
// ResponseCodeName for the code of a response, or Command.CodeName, which
// picks the table from the command's flag.
func CodeName(code int32) string {
	if n, ok := requestCodeNames[code]; ok {
		return n
	}
	return strconv.Itoa(int(code))
}

// ResponseCodeName returns the Java name of a response code ("PULL_NOT_FOUND"),
// or the number in decimal when the code is unknown.
func ResponseCodeName(code int32) string {
	if n, ok := responseCodeNames[code]; ok {
		return n
	}
	return strconv.Itoa(int(code))
}

// CodeName returns the name of the command's code, looked up in the response
// table for a response and in the request table otherwise.
func (c *Command) CodeName() string {
	if c.IsResponse() {
		return ResponseCodeName(c.Code)
	}
	return CodeName(c.Code)
}
