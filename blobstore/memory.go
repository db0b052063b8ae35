package blobstore

// PipelineBytes returns the buffers one Writer and one file read (Open's reader streaming a
// file) allocate at most, in bytes, for the layout new files get now: what a node's memory
// budget reserves for an upload's and a download's pipeline before either starts (issue 16
// item 5). With no usable layout yet it assumes 4+2.
func (s *Store) PipelineBytes() (write, read int64) {
	l, err := s.layoutFor()
	if err != nil {
		l = Layout{K: 4, M: 2}
	}
	g := newGeometry(l, s.cfg.BlockSize)
	workers := int64(s.cfg.workers())
	piece := int64(g.hdrSize + g.maxPiece())
	n := int64(l.K + l.M)
	// Writer.newBuf, (workers+2) of them: the stripe, the pieces, the compression scratch.
	stripe := g.stripeBytes() + n*piece + int64(g.blockSize+g.blockSize/64+1024)
	write = (workers + 2) * stripe
	// get: (workers+1) stripes in flight, a scratch per worker, and the reader's block cache.
	read = (workers+1)*g.stripeBytes() + workers*(n*piece+int64(g.maxPiece())) + int64(g.blockSize)
	return write, read
}
