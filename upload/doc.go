// Package upload is the byte path of an upload: a Pipeline streams each tus PATCH into the
// byte store (blobstore) and, on the way, through the virus scanner (a live clamd stream),
// makes each chunk durable, commits the last one and completes the upload into a file with
// its verdict, scanning in the background what the live scan could not follow. It grew out
// of package transfer (issue 17 item 7), which keeps the records: upload depends on
// transfer for every piece of metadata (CreateUpload, RecordProgress, CompleteUpload,
// SettleVerdict…) and on blobstore for the bytes, and neither of them knows it.
//
// The Pipeline is the production backend of tus uploads (httpd/tus.Backend, through a thin
// adapter in httpd/uploads, since upload never imports httpd). Its errors are transfer's
// sentinels, which that adapter's one mapping function turns into tus's:
//
//	transfer.ErrUploadNotFound                           → tus.ErrNotFound         404
//	transfer.ErrUploadExpired                            → tus.ErrExpired          410
//	transfer.ErrOffsetMismatch                           → tus.ErrOffsetMismatch   409
//	transfer.ErrChecksumMismatch                         → tus.ErrChecksumMismatch 460
//	transfer.ErrChunkIncomplete                          → tus.ErrIncomplete       400
//	transfer.ErrTooLarge, transfer.ErrQuotaExceeded      → tus.ErrTooLarge         413
//	transfer.ErrLocked                                   → tus.ErrLocked           423
//	transfer.ErrInvalidFileName, ErrInvalidMetadata      → tus.ErrBadMetadata      400
//
// Verify errors of the chunk come back wrapped, unchanged: the adapter's chunk may return
// either tus's or transfer's sentinels from Verify. Anything else is a storage or metadata
// error (500, or 503 for the store's "not now" errors, which have the kind Unavailable).
//
// transfer.ErrLocked also answers a Write (and an open of the writer) while another node holds
// the upload's lease (lease.go): 423 Locked, which tus clients retry (tus-js-client retries 409
// and 423 with its retryDelays) until the holder's PATCH ends or, the holder dead, its lease
// expires (Config.LeaseTTL).
//
// The files of the package: pipeline.go (Create, Write, Terminate, the open writers),
// complete.go (commit, live verdict, the record that makes the file), scan.go (the
// background scans and WaitVerdict), lease.go (the uploads' leases across nodes).
package upload
