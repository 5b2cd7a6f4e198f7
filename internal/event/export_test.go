package event

// Test hooks for the two parse paths.
var (
	ParseCanonical = parseCanonical
	ParseJSON      = parseJSON
	CanonicalJSON  = Event.canonicalJSON
)
