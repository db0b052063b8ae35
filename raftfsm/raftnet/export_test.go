package raftnet

// ReadReplyForTest exposes the reply decoder to the fuzz test.
var ReadReplyForTest = readReply

// NewHCLoggerForTest exposes the hclog adapter to its test.
var NewHCLoggerForTest = newHCLogger

// ReadProposeRequestForTest exposes the propose request decoder to the fuzz test.
var ReadProposeRequestForTest = readProposeRequest
