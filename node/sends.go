package node

import (
	"context"

	"valise/internal/logkey"
	"valise/transfer"
)

// notifier returns how the node's background work mails people: through the mail queue,
// with the accounts' contacts, under the product name and public URL the web UI was last
// built with. Before it is built (the node is starting) the links' base is not known: the
// sends of settled are left out, each logged (the sends are settled, their recipients not
// notified; the sender sees it on the send's page and can resend), and the product name is
// read from the settings.
func (n *instance) notifier(settled []transfer.Settled) (transfer.Notifier, []transfer.Settled) {
	nt := transfer.Notifier{Mailer: n.mail, Contacts: n.accounts}
	if b := n.web.brand.Load(); b != nil {
		nt.Brand = *b
		return nt, settled
	}
	nt.Brand.Product = n.setting("branding.name")
	for _, st := range settled {
		n.logger.Error("settled send not mailed: the web UI is not started", logSendID, st.Send.ID)
	}
	return nt, nil
}

// settleWaitingSends releases or cancels, on the leader, the sends whose verdicts came
// while no hook could settle them (a restart, another node's scan), and mails them.
func (n *instance) settleWaitingSends(ctx context.Context) {
	settled, err := n.transfers.SettleWaitingSends(ctx)
	if err != nil {
		n.logger.Warn("settle sends waiting for the antivirus", logkey.Err, err)
	}
	if len(settled) == 0 {
		return
	}
	nt, settled := n.notifier(settled)
	n.transfers.NotifySettled(ctx, settled, nt)
}
