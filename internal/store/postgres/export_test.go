package postgres

// CacheHas reports whether the row cache holds customer or ticket id.
func (s *Store) CacheHas(kind, id string) bool { return s.cache.Has(kind, id) }
