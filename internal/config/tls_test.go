package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTLSLoadErrorsNameTheFlag(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate"), 0o600)
	for _, c := range []struct {
		tls  TLS
		want string
	}{
		{TLS{ClientCA: junk}, "--tls-client-ca needs --tls-cert"},
		{TLS{Cert: junk}, "give both --tls-cert and --tls-key"},
		{TLS{Cert: junk, Key: junk}, "--tls-cert/--tls-key"},
	} {
		_, err := c.tls.Load()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want an error naming %q", c.tls, err, c.want)
		}
	}
	if cfg, err := (TLS{}).Load(); cfg != nil || err != nil {
		t.Errorf("no TLS flags: got %v, %v; want plain HTTP", cfg, err)
	}
}
