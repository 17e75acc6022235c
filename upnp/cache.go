package upnp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
)

const (
	// cacheFileName holds the remembered description URL of each gateway.
	cacheFileName = "igd.json"
	// maxCacheBytes caps what is read back: a few entries take well under
	// 1 KiB; a bigger file is not ours and is ignored.
	maxCacheBytes = 64 << 10
	// maxCacheEntries keeps the file small on a laptop that roams between
	// many networks.
	maxCacheEntries = 32
)

// cacheMu serializes this process's reads and writes of the cache file;
// other processes are handled by writing a temporary file and renaming it.
var cacheMu sync.Mutex

// descriptionCache remembers, per gateway IP, the URL of its IGD root
// description, so the next run can skip SSDP. A zero dir disables it.
type descriptionCache struct {
	dir  string
	name string // file name in dir; empty means cacheFileName
	logf func(format string, args ...any)
}

// cacheFile is the JSON on disk: gateway IP -> description URL.
type cacheFile struct {
	Locations map[string]string `json:"locations"`
}

// newDescriptionCache resolves cfg.CacheDir: empty means the user's cache
// directory + "/reach", "off" disables the cache.
func newDescriptionCache(cfg Config) descriptionCache {
	dir := cfg.CacheDir
	switch dir {
	case "off":
		return descriptionCache{logf: cfg.logf}
	case "":
		base, err := os.UserCacheDir()
		if err != nil {
			cfg.logf("upnp: no cache directory (%v); UPnP discovery will use SSDP every time", err)
			return descriptionCache{logf: cfg.logf}
		}
		dir = filepath.Join(base, "reach")
	}
	return descriptionCache{dir: dir, logf: cfg.logf}
}

func (c descriptionCache) path() string {
	if c.name != "" {
		return filepath.Join(c.dir, c.name)
	}
	return filepath.Join(c.dir, cacheFileName)
}

// read returns the file's entries; a missing, unreadable or corrupt file
// is an empty cache (it is only an optimization).
func (c descriptionCache) read() cacheFile {
	f := cacheFile{Locations: map[string]string{}}
	fh, err := os.Open(c.path())
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.logf("upnp: ignoring cache %s: %v", c.path(), err)
		}
		return f
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxCacheBytes+1))
	if err == nil && len(b) > maxCacheBytes {
		err = fmt.Errorf("larger than %d bytes", maxCacheBytes)
	}
	if err == nil {
		err = json.Unmarshal(b, &f)
	}
	if err != nil || f.Locations == nil {
		c.logf("upnp: ignoring cache %s: %v", c.path(), err)
		return cacheFile{Locations: map[string]string{}}
	}
	return f
}

// Get returns the remembered description URL of gw, or "".
func (c descriptionCache) Get(gw netip.Addr) string {
	if c.dir == "" {
		return ""
	}
	cacheMu.Lock()
	defer cacheMu.Unlock()
	return c.read().Locations[gw.String()]
}

// Put remembers loc as gw's description URL.
func (c descriptionCache) Put(gw netip.Addr, loc string) {
	c.update(func(m map[string]string) bool {
		if m[gw.String()] == loc {
			return false
		}
		if _, ok := m[gw.String()]; !ok && len(m) >= maxCacheEntries {
			for k := range m { // forget an arbitrary network to make room
				delete(m, k)
				break
			}
		}
		m[gw.String()] = loc
		return true
	})
}

// Drop forgets gw's entry if it is still loc (a stale URL: the router
// rebooted onto another port, or is another router now).
func (c descriptionCache) Drop(gw netip.Addr, loc string) {
	c.update(func(m map[string]string) bool {
		if m[gw.String()] != loc {
			return false
		}
		delete(m, gw.String())
		return true
	})
}

// update applies change to the entries and writes them back if it
// reports a change. Failures are logged, never returned.
func (c descriptionCache) update(change func(map[string]string) bool) {
	if c.dir == "" {
		return
	}
	cacheMu.Lock()
	defer cacheMu.Unlock()
	f := c.read()
	if !change(f.Locations) {
		return
	}
	if err := c.write(f); err != nil {
		c.logf("upnp: could not update cache %s: %v", c.path(), err)
	}
}

func (c descriptionCache) write(f cacheFile) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(c.dir, filepath.Base(c.path())+".*.tmp")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(append(b, '\n'))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), c.path()); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}
