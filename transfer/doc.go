// Package transfer decides what happens to files sent by secure link: the bookkeeping of
// resumable uploads, the files they become, sends to recipients with one secret link each,
// the public side of those links (challenges, downloads, tracking) and the retention job
// that destroys what has expired. The bytes of an upload take another path: package upload
// streams them through the scanner into blobstore and records each step here (issue 17
// item 7); transfer never imports it.
//
// transfer decides; raftfsm records; blobstore stores. Every change is one raftfsm.Batch
// proposed on the leader, with preconditions (CondAbsent, CondVersion) so that concurrent
// callers cannot both win, and the audit entry that journals it. The leader decides every
// ID (UUID v7), time and random token before proposing (Deps.Now, Deps.Rand), so that Apply
// stays deterministic. Records are JSON under these keys:
//
//	transfer/upload/<file id>          an upload in progress (tus bookkeeping)
//	transfer/file/<file id>            a complete file: name, size, SHA-256, verdict, manifest
//	transfer/send/<send id>            a send with its recipients and their tracking
//	transfer/owner/<owner>/send/<id>   the index behind ListSends
//	transfer/link/<sha256 of token>    a recipient's link and its challenge state
//	transfer/grant/<sha256 of grant>   a short-lived grant after a passed challenge
//	transfer/usage/<owner>             bytes reserved by an owner's uploads and files
//	transfer/tomb/<file id>            shards still to delete after the key was destroyed
//	transfer/lease/<file id>           which node writes an upload, till when, and its write
//	                                   generation (lease.go); goes with the upload
//
// # Secrets
//
// A link token (256 bits from the random source, base64url) is returned once, to be put in
// the recipient's mail; only its SHA-256 is stored. Grants are stored the same way, e-mail
// codes salted and hashed, link passwords through the PasswordHasher (Argon2id in account).
// Nothing secret is ever logged or journalled.
//
// # Links
//
// A link that is unknown, revoked, expired, replaced by a resend, or whose send is used up
// (download limit reached or deleted after download) answers the same ErrLinkNotFound, so a
// guesser learns nothing. Public calls first make a linearizable read, so a revoked link is
// refused at once on every node. Resend cannot send the old link again, since its token is
// not stored: it mints a new token for that recipient and the old one stops working.
//
// Download limit: Options.DownloadLimit is how many complete downloads each file of the send
// may have, across all recipients; a file that reached it is refused (ErrDownloadLimit),
// and once every file reached it the send is exhausted: its links answer ErrLinkNotFound and
// the sweep destroys its files. Delete after download: once every file of the send has been
// downloaded completely at least once, by any recipient, the send is consumed the same way.
// A download counts by the bytes it served: FinishDownload adds them to what earlier
// requests (ranges, cut downloads) served of the file, and each whole file's worth is one
// download, so Range requests that stop short of the last byte count too. Under a limit (or
// delete after download), StartDownload first takes a hold through Raft, a batch conditioned
// on the send's version, on one of the downloads the limit has left: downloads started
// together cannot exceed it (ErrDownloadBusy while the holds are taken); FinishDownload
// releases the hold, and a hold whose node died expires after downloadHoldLease.
//
// Suspended links (issue 19): a restore with --suspend-links writes SuspendKey, a time (the
// backup's); since nothing records what happened after the backup, every public call on a
// link whose send was created before it answers ErrSuspended (not ErrLinkNotFound: the
// recipient is told to contact the sender) until the sender confirms the send (Confirm,
// journalled "send.confirm", Send.ConfirmedAt). The key is read at each call, after the
// linearizable read, so every node agrees; a dead link stays dead, and Send.Suspended tells
// the sender which sends wait for them.
//
// A link's view is Locked until the grant given passed every challenge the send asks for:
// it then shows only the sender's name and the challenges, never the subject, message or
// files.
//
// # Retention
//
// Sweep (run by a Job on a ticker, on the leader) closes the links of expired or used-up
// sends, expires stale uploads and destroys files no active send needs: it first commits a
// batch that deletes the file record, and with it the manifest holding the wrapped key
// (crypto-shredding, journalled "file.shred"), while writing a tombstone that holds the
// manifest without its key; only then does it delete the shards through Blobs, and then the
// tombstone ("file.delete"). A crash or a failed delete in between leaves the tombstone,
// which the next sweep finishes. Every step is idempotent. A sweep scans every send, file,
// upload and grant record: fine at an appliance's scale; an expiry index is the next step if
// it is not.
//
// # For the HTTP layer
//
// Uploads (tus): POST → CreateUpload (its ID is the blobstore FileID) then blobstore Create;
// HEAD → GetUpload (Offset); PATCH → GetUpload, blobstore Resume(Upload.ResumeState) or the
// writer at hand, write the chunk, Checkpoint, then RecordProgress(expected = the request's
// Upload-Offset); the final PATCH → Commit, CompleteUpload with the live scan's verdict or
// "pending" (a background scan records the verdict later, without holding the PATCH);
// DELETE → CancelUpload. Package upload's Pipeline does all of this, scanning included, behind
// the shape of httpd/tus.Backend: the handler only adapts its types and errors. A few methods
// are exported for that package alone, to read and record what the byte path needs beyond
// the calls above: OwnsUploadOrFile, UploadRecord, UploadRecorded, LinearizableRead,
// FileRecord, ScanFiles, SettleVerdict (ErrNotPending) and Policy. Sends:
// SendFiles (CreateSend, then each Invitation mailed and RecordNotified), ListSends, GetSend,
// ResendLink (Resend, mailed the same way), Revoke, Confirm.
// A send of a file still being scanned is created at once in the state pending_scan, with no
// link (settle.go): the verdict releases it (upload.Finished.Sends, or SettleWaitingSends
// after a restart) with the Invitations to mail then (NotifyVerdict, NotifySettled), or
// cancels it when a file is infected.
// Links (/s/{token}): AllowLinkAttempt first (429), then OpenLink with the grant; CheckLinkPassword,
// MailEmailCode (IssueEmailCode and its mail), CheckEmailCode (both given the client address, which
// their failures are also counted under) give a Grant to keep in a cookie;
// StartDownload gives a Ticket whose Manifest the handler opens in blobstore and streams
// (Range, zip: set Ticket.Zip), then FinishDownload with the bytes served (MailReceipt
// when due, one per file or one per zip; Job.Trigger when the send finished).
//
// # Status codes
//
// Each error has a fault.Kind; httpd/status turns kinds into the HTTP statuses of the REST
// API, tus and the web UI, so transfer's errors are answered with these statuses (a test,
// TestTransferDocTable in httpd/status, checks this table against the kinds):
//
//	400 ErrInvalidFileName, ErrInvalidSize, ErrInvalidMetadata, ErrInvalidOwner, ErrFileNotSendable, ErrInvalidVerdict, ErrInvalidRecipient, ErrNoRecipients, ErrTooManyRecipients, ErrNoFiles, ErrSendTooLarge, ErrInvalidText, ErrInvalidOptions, ErrChunkIncomplete
//	403 ErrSuspended, ErrChallengeRequired, ErrWrongPassword, ErrWrongCode, ErrCodeExpired
//	404 ErrUploadNotFound, ErrFileNotFound, ErrSendNotFound, ErrRecipientNotFound, ErrLinkNotFound
//	409 ErrOffsetMismatch, ErrFileScanning, ErrSendNotActive, ErrNotRequired, ErrDownloadBusy, ErrFileChanged
//	410 ErrUploadExpired, ErrDownloadLimit
//	413 ErrTooLarge, ErrQuotaExceeded
//	423 ErrLocked
//	429 ErrTooManyResends, ErrTooManyAttempts
//	460 ErrChecksumMismatch
//	503 ErrBusy, ErrNotNotified
//
// Code gives the stable code of each. A change still conflicting after its retries is ErrBusy,
// and the store's "not now" errors (no leader, not the leader, closing) come back wrapped,
// with the kind Unavailable they carry themselves: both are 503 with Retry-After, for the
// client to retry.
//
// # Mails
//
// The use cases that tell people (notices.go: SendFiles, ResendLink, MailReceipt,
// MailEmailCode, NotifyVerdict, NotifySettled) render their mails with notify and queue them
// through the caller's Notifier: a Mailer (*notify.Sender), the Contacts of senders
// (*account.Service) and the Brand (product name, public URL), which the caller reads for
// each call since the settings change them. The front ends compose no mail (issue 17 item 1).
//
// # Rate limiting
//
// AllowLinkAttempt is a per-IP token bucket (IPv6 per /64) kept in memory on each node: an
// attacker spreading guesses over N nodes gets N times the rate, which stays negligible
// against 256-bit tokens; the per-link attempt caps on passwords and e-mail codes are
// replicated and hold cluster-wide. Resends are bounded per send in the replicated send
// record (exact cluster-wide) and per user by a token bucket on each node (Config.Resend).
// Receipts are bounded in the replicated send record too: one per recipient and file (or
// zip) and Config.Receipt.PerSend per send in Config.Receipt.Window.
package transfer
