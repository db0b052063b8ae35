package shardnet

// OpenConns returns how many connections s is serving, for tests of the client's pool.
func OpenConns(s *Server) int { return s.srv.Open() }
