package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLS is the gateway's TLS setting (serve's --tls-* flags).
//
// With Cert and Key the gateway serves HTTPS only (TLS 1.2 or later; HTTP/2
// when the client offers it). With ClientCA it also asks for client
// certificates signed by that CA (mutual TLS, for integrations): by default
// every client must present one (ClientAuth "require":
// tls.RequireAndVerifyClientCert), so that a gateway reserved for systems
// refuses any connection without one before a byte of HTTP is read;
// "if-given" (tls.VerifyClientCertIfGiven) lets people sign in with their
// token alone while a certificate, when presented, must verify. A client
// certificate never replaces the bearer token: both are checked.
//
// The key pair is read at start; replace the files and restart to renew.
type TLS struct {
	Cert, Key, ClientCA, ClientAuth string
}

// Load returns the server's TLS configuration, or nil when TLS is off.
// Errors name the flag to fix.
func (t TLS) Load() (*tls.Config, error) {
	if t.Cert == "" && t.Key == "" {
		if t.ClientCA != "" {
			return nil, errors.New("--tls-client-ca needs --tls-cert and --tls-key")
		}
		return nil, nil
	}
	if t.Cert == "" || t.Key == "" {
		return nil, errors.New("give both --tls-cert and --tls-key")
	}
	pair, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if t.ClientCA == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(t.ClientCA)
	if err != nil {
		return nil, fmt.Errorf("--tls-client-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--tls-client-ca %s: no PEM certificate in it", t.ClientCA)
	}
	cfg.ClientCAs = pool
	switch t.ClientAuth {
	case "require", "":
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	case "if-given":
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	default:
		return nil, fmt.Errorf("--tls-client-auth %q: want require or if-given", t.ClientAuth)
	}
	return cfg, nil
}
