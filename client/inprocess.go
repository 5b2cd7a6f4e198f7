package client

import (
	"net/http"
	"net/http/httptest"
)

// InProcess returns a transport that serves each request with h directly,
// without a network: for programs that embed custos's handler, such as
// custos demo replaying a world through the gateway. Use it as
// Options{HTTPClient: &http.Client{Transport: client.InProcess(h)}} with
// any base URL (e.g. "http://custos.internal").
func InProcess(h http.Handler) http.RoundTripper { return inProcess{h} }

type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	if req.RemoteAddr == "" {
		req = req.Clone(req.Context())
		req.RemoteAddr = "127.0.0.1:0"
	}
	t.h.ServeHTTP(rec, req)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}
