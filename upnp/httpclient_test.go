package upnp

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// openAt runs OpenIGD on the fake's description, as discovery would.
func openAt(t *testing.T, ctx context.Context, f *fakeIGD) (*IGD, error) {
	t.Helper()
	u, err := url.Parse(f.location())
	if err != nil {
		t.Fatal(err)
	}
	cfg := f.config()
	return OpenIGD(ctx, cfg, cfg.Gateway, igdLocal, u)
}

func TestDescriptionTooLarge(t *testing.T) {
	for _, tt := range []struct {
		name string
		h    http.HandlerFunc
	}{
		{"endless body", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0"><device><friendlyName>`))
			chunk := []byte(strings.Repeat("A", 32<<10))
			for r.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}},
		{"announced huge", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1073741824")
			w.Write([]byte("<root>"))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeIGD(t, "v2")
			f.set(func(f *fakeIGD) { f.descHandler = tt.h })
			_, err := openAt(t, context.Background(), f)
			if !errors.Is(err, ErrResponseTooLarge) {
				t.Fatalf("err = %v, want ErrResponseTooLarge", err)
			}
		})
	}
}

// A description that trickles forever ends with the caller's deadline.
func TestDescriptionTrickleHonorsContext(t *testing.T) {
	f := newFakeIGD(t, "v2")
	f.set(func(f *fakeIGD) {
		f.descHandler = func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`<?xml version="1.0"?><root>`))
			for r.Context().Err() == nil {
				w.Write([]byte(" "))
				w.(http.Flusher).Flush()
				time.Sleep(10 * time.Millisecond)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := openAt(t, ctx, f)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context deadline", err)
	}
}

func TestDescriptionRedirectRefused(t *testing.T) {
	f := newFakeIGD(t, "v2")
	f.set(func(f *fakeIGD) {
		f.descHandler = func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.3:1/rootDesc.xml", http.StatusFound)
		}
	})
	_, err := openAt(t, context.Background(), f)
	if err == nil || !strings.Contains(err.Error(), "refusing to follow") {
		t.Fatalf("err = %v, want a refused redirect", err)
	}
}

func TestDescriptionNotXML(t *testing.T) {
	f := newFakeIGD(t, "v2")
	f.set(func(f *fakeIGD) {
		f.descHandler = func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>router login</html>")) }
	})
	_, err := openAt(t, context.Background(), f)
	if err == nil || !strings.Contains(err.Error(), "not valid UPnP XML") {
		t.Fatalf("err = %v", err)
	}
}

func TestControlURLOnAnotherHostRefused(t *testing.T) {
	f := newFakeIGD(t, "v2")
	f.set(func(f *fakeIGD) { f.controlURL = "http://127.0.0.3:5000/ctl/IPConn" })
	_, err := openAt(t, context.Background(), f)
	if err == nil || !strings.Contains(err.Error(), "control URL") || !strings.Contains(err.Error(), "127.0.0.3") {
		t.Fatalf("err = %v, want the control URL refused", err)
	}
}

func TestOpenIGDRefusesLocationOffGateway(t *testing.T) {
	f := newFakeIGD(t, "v2")
	cfg := f.config()
	u, _ := url.Parse("http://127.0.0.3:5000/rootDesc.xml")
	if _, err := OpenIGD(context.Background(), cfg, cfg.Gateway, igdLocal, u); err == nil {
		t.Fatal("OpenIGD accepted a description on another host")
	}
	if n := f.descFetches.Load(); n != 0 {
		t.Errorf("fake served %d descriptions", n)
	}
}

func TestNoWANService(t *testing.T) {
	f := newFakeIGD(t, "v2")
	f.set(func(f *fakeIGD) {
		f.descHandler = func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0"><device>
<deviceType>urn:schemas-upnp-org:device:MediaServer:1</deviceType><friendlyName>TV</friendlyName></device></root>`))
		}
	})
	_, err := openAt(t, context.Background(), f)
	if !errors.Is(err, ErrNoIGD) || !strings.Contains(err.Error(), "MediaServer") {
		t.Fatalf("err = %v", err)
	}
}

func TestCappedBodyExactLimit(t *testing.T) {
	body := strings.Repeat("x", 10)
	b := &cappedBody{rc: readCloser{strings.NewReader(body)}, left: 10, url: "u"}
	buf := make([]byte, 64)
	var got []byte
	for {
		n, err := b.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("a body of exactly the limit failed: %v", err)
			}
			break
		}
	}
	if string(got) != body {
		t.Errorf("read %q", got)
	}
	b = &cappedBody{rc: readCloser{strings.NewReader(body + "y")}, left: 10, url: "u"}
	var err error
	for err == nil {
		_, err = b.Read(buf)
	}
	if !errors.Is(err, ErrResponseTooLarge) {
		t.Errorf("one byte over the limit: err = %v", err)
	}
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

// The root descriptions of the real miniupnpd 2.3.1, as IGD v2 and with
// force_igd_desc_v1, captured in the lab and served by the fake.
func TestOpenIGDCapturedDescriptions(t *testing.T) {
	for _, tt := range []struct {
		file    string
		variant string
		method  Method
	}{
		{"testdata/miniupnpd-2.3.1-igd2-rootDesc.xml", "v2", MethodIGD2},
		{"testdata/miniupnpd-2.3.1-igd1-rootDesc.xml", "v1", MethodIGD1},
	} {
		desc, err := os.ReadFile(tt.file)
		if err != nil {
			t.Fatal(err)
		}
		f := newFakeIGD(t, tt.variant)
		f.set(func(f *fakeIGD) {
			f.descHandler = func(w http.ResponseWriter, r *http.Request) { w.Write(desc) }
		})
		igd, err := openAt(t, context.Background(), f)
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		if igd.Method() != tt.method || igd.ServiceType() != f.serviceType() || igd.ControlURL().String() != f.http.URL+"/ctl/IPConn" {
			t.Errorf("%s: method %s, service %s, control %s", tt.file, igd.Method(), igd.ServiceType(), igd.ControlURL())
		}
		if igd.FriendlyName() != "reach lab router" {
			t.Errorf("%s: name %q", tt.file, igd.FriendlyName())
		}
		if ext, err := igd.ExternalAddr(context.Background()); err != nil || !ext.IsValid() {
			t.Errorf("%s: ExternalAddr through the captured control URL: %v, %v", tt.file, ext, err)
		}
	}
}
