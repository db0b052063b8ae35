package node

import (
	"context"

	"valise/transfer"
)

// mailSettled has the web UI mail what verdicts decided for sends that waited for the
// antivirus (issue 16 item 3; see web.Handler.MailSettled), and reports whether the sender
// was told that file is infected.
func (n *instance) mailSettled(ctx context.Context, settled []transfer.Settled, file transfer.FileID, signature string) bool {
	if len(settled) == 0 {
		return false
	}
	h := n.web.h.Load()
	if h == nil {
		// Not mounted yet (the node is starting): the sends are settled, their recipients
		// not notified; the sender sees it on the send's page and can resend.
		for _, st := range settled {
			n.logger.Error("settled send not mailed: the web UI is not started", logSendID, st.Send.ID)
		}
		return false
	}
	return h.MailSettled(ctx, settled, file, signature)
}

// settleWaitingSends releases or cancels, on the leader, the sends whose verdicts came
// while no hook could settle them (a restart, another node's scan), and mails them.
func (n *instance) settleWaitingSends(ctx context.Context) {
	settled, err := n.transfers.SettleWaitingSends(ctx)
	if err != nil {
		n.logger.Warn("settle sends waiting for the antivirus", "err", err)
	}
	n.mailSettled(ctx, settled, "", "")
}
