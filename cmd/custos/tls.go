package main

import (
	"flag"

	"github.com/custos-dev/custos/internal/config"
)

// tlsFlags are serve's TLS flags (see config.TLS).
type tlsFlags struct{ config.TLS }

func (f *tlsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.Cert, "tls-cert", "", "serve HTTPS with this certificate `file` (PEM, chain first to last); needs --tls-key")
	fs.StringVar(&f.Key, "tls-key", "", "private key `file` (PEM) for --tls-cert")
	fs.StringVar(&f.ClientCA, "tls-client-ca", "", "mutual TLS: CA certificate `file` (PEM) that signs client certificates")
	fs.StringVar(&f.ClientAuth, "tls-client-auth", "require", "with --tls-client-ca: `require` a client certificate, or check it only if-given")
}
