package publish

import (
	"encoding/json"
	"testing"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestProbe(t *testing.T) {
	out, err := JobConfig([]byte(`{"config":{"Labelſ":{"io.llbgen.helper.version":"v9.9.9"}}}`), map[string]string{LabelVersion: "v0.12.0"}, "x", nil)
	var img ocispecs.Image
	json.Unmarshal(out, &img)
	t.Logf("longs decoded labels: %v %v", img.Config.Labels, err)
	e, ok := lookupUser([]byte("bob:x:1000:1000::/home/bob:/bin/sh\r\n"), "bob")
	t.Logf("crlf last field: %q %v", e.home, ok)
	e, ok = lookupUser([]byte("bob:x:1000:1000::/home/bob\r\n"), "bob")
	t.Logf("crlf 6: %q %v", e.home, ok)
	e, ok = lookupUser([]byte("1000:x:2000:2000::/evil:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n"), "1000")
	t.Logf("name-uid: %+v %v", e, ok)
	l, err := JobLayer([]byte(`{"config":{"User":"bob"}}`), []string{"r"}, func() ([]byte, error) { return []byte("bob:x:99999999999:1000::/home/bob:/bin/sh\n"), nil })
	t.Logf("huge uid: %+v %v", l, err)
	l, err = JobLayer([]byte(`{"config":{"User":"bob"}}`), []string{"r"}, func() ([]byte, error) { return []byte("bob:x:01000:1000::/home/bob:/bin/sh\n"), nil })
	t.Logf("01000: %+v %v", l, err)
	l, err = JobLayer([]byte(`{"config":{"User":"1000"}}`), []string{"r"}, func() ([]byte, error) { return []byte("bob:x:01000:1000::/home/bob:/bin/sh\n"), nil })
	t.Logf("1000 vs 01000: %+v %v", l, err)
	l, err = JobLayer([]byte(`null`), []string{"r"}, nil)
	t.Logf("null: %+v %v", l, err)
	l, err = JobLayer([]byte(`{"config":{"User":"root:1000","Env":["HOME=/root/"]}}`), []string{"r"}, nil)
	t.Logf("root:1000: %+v %v", l, err)
}
