package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
)

// tlsFlags are serve's TLS flags.
//
// With --tls-cert and --tls-key the gateway serves HTTPS only (TLS 1.2 or
// later; HTTP/2 when the client offers it). With --tls-client-ca it also
// asks for client certificates signed by that CA (mutual TLS, for
// integrations): by default every client must present one
// (--tls-client-auth require: tls.RequireAndVerifyClientCert), so that a
// gateway reserved for systems refuses any connection without one before a
// byte of HTTP is read; --tls-client-auth if-given
// (tls.VerifyClientCertIfGiven) lets people sign in with their token alone
// while a certificate, when presented, must verify. A client certificate
// never replaces the bearer token: both are checked.
//
// The key pair is read at start; replace the files and restart to renew.
type tlsFlags struct {
	cert, key, clientCA, clientAuth string
}

func (f *tlsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.cert, "tls-cert", "", "serve HTTPS with this certificate `file` (PEM, chain first to last); needs --tls-key")
	fs.StringVar(&f.key, "tls-key", "", "private key `file` (PEM) for --tls-cert")
	fs.StringVar(&f.clientCA, "tls-client-ca", "", "mutual TLS: CA certificate `file` (PEM) that signs client certificates")
	fs.StringVar(&f.clientAuth, "tls-client-auth", "require", "with --tls-client-ca: `require` a client certificate, or check it only if-given")
}

// config returns the server's TLS configuration, or nil when TLS is off.
func (f *tlsFlags) config() (*tls.Config, error) {
	if f.cert == "" && f.key == "" {
		if f.clientCA != "" {
			return nil, errors.New("--tls-client-ca needs --tls-cert and --tls-key")
		}
		return nil, nil
	}
	if f.cert == "" || f.key == "" {
		return nil, errors.New("give both --tls-cert and --tls-key")
	}
	pair, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if f.clientCA != "" {
		pem, err := os.ReadFile(f.clientCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-client-ca %s: no PEM certificate in it", f.clientCA)
		}
		cfg.ClientCAs = pool
		switch f.clientAuth {
		case "require":
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		case "if-given":
			cfg.ClientAuth = tls.VerifyClientCertIfGiven
		default:
			return nil, fmt.Errorf("--tls-client-auth %q: want require or if-given", f.clientAuth)
		}
	}
	return cfg, nil
}
