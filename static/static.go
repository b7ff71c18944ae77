// Package static embeds the CSS, JavaScript and vendored files served under /static/.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"sync"
)

//go:embed *.css *.js vendor
var files embed.FS

// FS is the tree served under /static/.
var FS fs.FS = files

var (
	versionsOnce sync.Once
	versions     map[string]string
)

// Path is the URL of an embedded file with a content hash, so browsers may cache it forever
// and still get the new file after an upgrade.
func Path(name string) string {
	versionsOnce.Do(func() {
		versions = map[string]string{}
		_ = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := files.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			versions[p] = hex.EncodeToString(sum[:6])
			return nil
		})
	})
	if v, ok := versions[name]; ok {
		return "/static/" + name + "?v=" + v
	}
	return "/static/" + name
}
