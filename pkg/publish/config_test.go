package publish

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/targets"
)

// dockerConfig is an image config as Docker writes it: every field Docker
// has (some OCI does not know), history with empty layers, and fields
// neither knows, one holding a number no float64 keeps.
const dockerConfig = `{
  "architecture": "arm",
  "variant": "v7",
  "os": "linux",
  "author": "someone <a@example.com>",
  "created": "2020-06-25T18:51:44.403458716Z",
  "docker_version": "19.03.12",
  "container": "0123abcd",
  "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) CMD [\"sh\"]"], "Labels": {}},
  "x-vendor": {"big": 123456789012345678901234567890, "nested": [1, "two", null, {"three": true}]},
  "config": {
    "Hostname": "",
    "User": "runner:runner",
    "AttachStdout": false,
    "ExposedPorts": {"2375/tcp": {}, "2376/tcp": {}},
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "DOCKER_TLS_CERTDIR=/certs", "A=x && y <z>"],
    "Cmd": ["sh", "-c", "echo a && echo b > /dev/null"],
    "Healthcheck": {"Test": ["CMD-SHELL", "docker info || exit 1"], "Interval": 30000000000, "Timeout": 5000000000, "StartPeriod": 1, "Retries": 3},
    "ArgsEscaped": true,
    "Image": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "Volumes": {"/var/lib/docker": {}},
    "WorkingDir": "/builds",
    "Entrypoint": ["docker-entrypoint.sh"],
    "OnBuild": ["RUN echo built on"],
    "Labels": {"maintainer": "someone", "org.opencontainers.image.base.name": "docker.io/library/alpine:3.12", "io.llbgen.helper.version": "v0.0.1"},
    "StopSignal": "SIGQUIT",
    "Shell": ["/bin/ash", "-eo", "pipefail", "-c"],
    "x-config-unknown": 18446744073709551617
  },
  "rootfs": {"type": "layers", "diff_ids": ["sha256:1111111111111111111111111111111111111111111111111111111111111111"]},
  "history": [
    {"created": "2020-05-29T21:19:46.192045972Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
    {"created": "2020-05-29T21:19:46.363518345Z", "created_by": "/bin/sh -c #(nop)  CMD [\"/bin/sh\"]", "empty_layer": true}
  ]
}`

// decodeNumbers reads JSON with numbers kept as written.
func decodeNumbers(t *testing.T, data []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
	return v
}

// fields reads a JSON object as its raw fields.
func fields(t *testing.T, data []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("reading %s: %v", data, err)
	}
	return m
}

// sameMeaning reports whether a and b are the same JSON value.
func sameMeaning(t *testing.T, a, b []byte) bool {
	t.Helper()
	return reflect.DeepEqual(decodeNumbers(t, a), decodeNumbers(t, b))
}

// A job image's config is its target image's: every field llbgen does not
// touch means what it meant, whatever Docker or a vendor put there.
func TestJobConfigKeepsTheTargetImagesConfig(t *testing.T) {
	ours := map[string]string{LabelModule: targets.HelperModule, LabelVersion: "v0.12.0", ocispecs.AnnotationBaseImageName: "docker.io/library/docker:19.03.12"}
	created := time.Date(2024, 2, 3, 4, 5, 6, 0, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		name    string
		created *time.Time
	}{{"no epoch", nil}, {"epoch", &created}} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := JobConfig([]byte(dockerConfig), ours, "llbgen: the helper", tc.created)
			if err != nil {
				t.Fatal(err)
			}
			base, got := fields(t, []byte(dockerConfig)), fields(t, out)
			for k, v := range base {
				if k == "config" || k == "history" || (k == "created" && tc.created != nil) {
					continue
				}
				if !sameMeaning(t, v, got[k]) {
					t.Errorf("%s: %s, want %s", k, got[k], v)
				}
			}
			for k := range got {
				if _, ok := base[k]; !ok && k != "history" && k != "config" && k != "created" {
					t.Errorf("field %s added", k)
				}
			}
			baseCfg, gotCfg := fields(t, base["config"]), fields(t, got["config"])
			for k, v := range baseCfg {
				if k != "Labels" && !sameMeaning(t, v, gotCfg[k]) {
					t.Errorf("config.%s: %s, want %s", k, gotCfg[k], v)
				}
			}
			if len(gotCfg) != len(baseCfg) {
				t.Errorf("config has %d fields, want the base's %d", len(gotCfg), len(baseCfg))
			}

			var baseLabels, labels map[string]string
			if err := json.Unmarshal(baseCfg["Labels"], &baseLabels); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(gotCfg["Labels"], &labels); err != nil {
				t.Fatal(err)
			}
			want := maps.Clone(baseLabels)
			maps.Copy(want, ours)
			if !maps.Equal(labels, want) {
				t.Errorf("labels %v, want %v", labels, want)
			}
			if labels[LabelVersion] != "v0.12.0" || labels["maintainer"] != "someone" {
				t.Errorf("labels %v: ours must override the base's, the base's others stay", labels)
			}

			var baseHist, hist []json.RawMessage
			if err := json.Unmarshal(base["history"], &baseHist); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(got["history"], &hist); err != nil {
				t.Fatal(err)
			}
			if len(hist) != len(baseHist)+1 {
				t.Fatalf("history has %d entries, want the base's %d and one", len(hist), len(baseHist))
			}
			for i := range baseHist {
				if !sameMeaning(t, baseHist[i], hist[i]) {
					t.Errorf("history[%d]: %s, want %s", i, hist[i], baseHist[i])
				}
			}
			var last ocispecs.History
			if err := json.Unmarshal(hist[len(hist)-1], &last); err != nil {
				t.Fatal(err)
			}
			if last.CreatedBy != "llbgen: the helper" || last.Comment != "llbgen" || last.EmptyLayer {
				t.Errorf("llbgen's history entry %+v", last)
			}

			var img ocispecs.Image
			if err := json.Unmarshal(out, &img); err != nil {
				t.Fatal(err)
			}
			if tc.created == nil {
				if last.Created != nil {
					t.Errorf("history entry dated %v with no epoch", last.Created)
				}
				if !sameMeaning(t, base["created"], got["created"]) {
					t.Errorf("created %s, want the base's %s", got["created"], base["created"])
				}
				return
			}
			if last.Created == nil || !last.Created.Equal(created) || img.Created == nil || !img.Created.Equal(created) {
				t.Errorf("created %v, history entry %v; want %v", img.Created, last.Created, created)
			}
			if s := string(got["created"]); !strings.HasSuffix(s, `Z"`) {
				t.Errorf("created %s, want UTC", s)
			}
		})
	}
}

// What Docker reads of the job image's config (its Go types, case-
// insensitive field names) is the target image's, with our labels.
func TestJobConfigAsDockerReadsIt(t *testing.T) {
	out, err := JobConfig([]byte(dockerConfig), map[string]string{LabelVersion: "v0.12.0"}, "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	var base, got ocispecs.Image
	if err := json.Unmarshal([]byte(dockerConfig), &base); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	base.Config.Labels[LabelVersion] = "v0.12.0"
	base.History = append(base.History, ocispecs.History{CreatedBy: "x", Comment: "llbgen"})
	if !reflect.DeepEqual(base, got) {
		t.Errorf("Docker reads\n%+v\nwant\n%+v", got, base)
	}
}

// The smallest configs: none of the fields llbgen writes there yet.
func TestJobConfigSparse(t *testing.T) {
	for _, base := range []string{
		`{}`,
		`{"config": null}`,
		`{"config": {}}`,
		`{"config": {"Labels": null}, "history": null}`,
		`{"architecture": "amd64", "os": "linux", "config": {"Labels": {}}, "history": []}`,
	} {
		out, err := JobConfig([]byte(base), map[string]string{"k": "v"}, "x", nil)
		if err != nil {
			t.Errorf("%s: %v", base, err)
			continue
		}
		var img ocispecs.Image
		if err := json.Unmarshal(out, &img); err != nil {
			t.Fatalf("%s gives %s: %v", base, out, err)
		}
		if !maps.Equal(img.Config.Labels, map[string]string{"k": "v"}) || len(img.History) != 1 || img.History[0].CreatedBy != "x" {
			t.Errorf("%s gives %s", base, out)
		}
	}
}

// A config that is not one is an error, never a panic, and says which part.
func TestJobConfigMalformed(t *testing.T) {
	for _, tc := range []struct{ base, what string }{
		{``, "config"},
		{`{`, "config"},
		{`[]`, "config"},
		{`"config"`, "config"},
		{`5`, "config"},
		{`{"config": 5}`, "config"},
		{`{"config": []}`, "config"},
		{`{"config": "User"}`, "config"},
		{`{"config": {"Labels": []}}`, "labels"},
		{`{"config": {"Labels": "a=b"}}`, "labels"},
		{`{"config": {"Labels": {"a": 1}}}`, "labels"},
		{`{"config": {"Labels": {"a": {"b": "c"}}}}`, "labels"},
		{`{"history": {}}`, "history"},
		{`{"history": [1]}`, "history"},
		{`{"history": "none"}`, "history"},
	} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: panic %v", tc.base, r)
				}
			}()
			out, err := JobConfig([]byte(tc.base), map[string]string{"k": "v"}, "x", nil)
			if err == nil {
				t.Errorf("%s: no error, gives %s", tc.base, out)
			} else if !strings.Contains(err.Error(), tc.what) {
				t.Errorf("%s: %v, want it to name the %s", tc.base, err, tc.what)
			}
		}()
	}
}

// BUG: a config of JSON null panics (assignment to entry in nil map, at
// set(img, "config", cfg)); BuildKit's exporter refuses one with an error.
func TestJobConfigNull(t *testing.T) {
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("panic %v", r)
		}
	}()
	if out, err := JobConfig([]byte(`null`), nil, "x", nil); err == nil {
		t.Errorf("no error, gives %s", out)
	}
}

// A target image whose config spells Labels another way (Go's decoder,
// Docker's, takes any case) must not override the labels llbgen sets.
func TestJobConfigLabelsSpelledOtherwise(t *testing.T) {
	for _, key := range []string{"labels", "lABELS", "Labelſ"} {
		base := `{"config": {"` + key + `": {"` + LabelVersion + `": "v9.9.9", "` + ocispecs.AnnotationBaseImageDigest + `": "sha256:forged"}}}`
		out, err := JobConfig([]byte(base), map[string]string{LabelVersion: "v0.12.0", ocispecs.AnnotationBaseImageDigest: "sha256:real"}, "x", nil)
		if err != nil {
			continue // refusing it is fine too
		}
		var img ocispecs.Image
		if err := json.Unmarshal(out, &img); err != nil {
			t.Fatal(err)
		}
		if img.Config.Labels[LabelVersion] != "v0.12.0" || img.Config.Labels[ocispecs.AnnotationBaseImageDigest] != "sha256:real" {
			t.Errorf("config key %q: Docker reads labels %v", key, img.Config.Labels)
		}
	}
}

func TestJobLabels(t *testing.T) {
	l := parse(t, `helper: {version: v0.12.0}
targets: [{image: gitlab/gitlab-runner:v13.2.1}]
publish: {images: "r.example.com/{repo}:{tag}"}
`)
	tg := &l.Targets[0]
	d := digest.FromString("base")
	got := JobLabels(l, tg, d)
	want := map[string]string{
		LabelModule:                        targets.HelperModule,
		LabelVersion:                       "v0.12.0",
		ocispecs.AnnotationBaseImageName:   "docker.io/gitlab/gitlab-runner:v13.2.1",
		ocispecs.AnnotationBaseImageDigest: d.String(),
	}
	if !maps.Equal(got, want) {
		t.Errorf("JobLabels = %v, want %v", got, want)
	}
	if _, ok := JobLabels(l, tg, "")[ocispecs.AnnotationBaseImageDigest]; ok {
		t.Error("a base digest label with no digest")
	}
}

func TestHelpersConfig(t *testing.T) {
	l := parse(t, `helper: {version: v0.13.1}
targets: [{image: docker:19.03.12}]
publish: {helpers: "r.example.com/h:{version}"}
`)
	created := time.Unix(1700000000, 0).In(time.FixedZone("X", -7200))
	for _, tc := range []struct {
		p       ocispecs.Platform
		created *time.Time
	}{
		{ocispecs.Platform{OS: "linux", Architecture: "amd64"}, nil},
		{ocispecs.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, &created},
		{ocispecs.Platform{OS: "linux", Architecture: "arm64", OSFeatures: []string{"x"}}, nil},
	} {
		data, err := HelpersConfig(l, tc.p, tc.created)
		if err != nil {
			t.Fatal(err)
		}
		var img ocispecs.Image
		if err := json.Unmarshal(data, &img); err != nil {
			t.Fatal(err)
		}
		if img.OS != tc.p.OS || img.Architecture != tc.p.Architecture || img.Variant != tc.p.Variant {
			t.Errorf("%v: platform %+v", tc.p, img.Platform)
		}
		lb := img.Config.Labels
		if lb[LabelModule] != targets.HelperModule || lb[LabelVersion] != "v0.13.1" ||
			lb[ocispecs.AnnotationTitle] == "" || !strings.Contains(lb[ocispecs.AnnotationDescription], "v0.13.1") ||
			strings.Contains(lb[ocispecs.AnnotationDescription], l.File) {
			// The list's path is the machine's: it would leak, and make
			// the same binaries another image.
			t.Errorf("%v: labels %v", tc.p, lb)
		}
		if len(img.Config.Entrypoint)+len(img.Config.Cmd)+len(img.Config.Env) != 0 || img.Config.User != "" {
			t.Errorf("%v: the helpers image runs something: %+v", tc.p, img.Config)
		}
		if img.RootFS.Type != "layers" || len(img.History) != 1 || img.History[0].EmptyLayer {
			t.Errorf("%v: rootfs %+v, history %+v", tc.p, img.RootFS, img.History)
		}
		if tc.created == nil {
			if img.Created != nil || img.History[0].Created != nil {
				t.Errorf("%v: dated with no epoch: %v, %v", tc.p, img.Created, img.History[0].Created)
			}
			continue
		}
		if img.Created == nil || !img.Created.Equal(created) || img.Created.Location() != time.UTC ||
			img.History[0].Created == nil || !img.History[0].Created.Equal(created) {
			t.Errorf("%v: created %v, history %v; want %v in UTC", tc.p, img.Created, img.History[0].Created, created)
		}
	}
}

// passwdFile is a typical image's /etc/passwd.
const passwdFile = `root:x:0:0:root:/root:/bin/ash
daemon:x:1:1:daemon:/usr/sbin:/sbin/nologin
gitlab-runner:x:999:998:GitLab Runner:/home/gitlab-runner:/bin/bash
bob:x:1000:1001:Bob,,,:/home/bob:/bin/sh
nohome:x:1002:1002:No home::/bin/sh
relhome:x:1003:1003::home/relhome:/bin/sh
`

// imageWith is an image config with user and env.
func imageWith(t *testing.T, user string, env ...string) []byte {
	t.Helper()
	data, err := json.Marshal(ocispecs.Image{Config: ocispecs.ImageConfig{User: user, Env: env}})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// passwdFunc gives data and counts its calls.
func passwdFunc(data string, err error, calls *int) func() ([]byte, error) {
	return func() ([]byte, error) {
		*calls++
		if data == "" && err == nil {
			return nil, nil // the image has no /etc/passwd
		}
		return []byte(data), err
	}
}

var registries = []string{"123456789012.dkr.ecr.us-east-1.amazonaws.com", "public.ecr.aws"}

func TestJobLayerWithoutCredHelpers(t *testing.T) {
	calls := 0
	for _, base := range [][]byte{imageWith(t, "bob"), []byte(`not even JSON`)} {
		l, err := JobLayer(base, nil, passwdFunc(passwdFile, nil, &calls))
		if err != nil || l.Home != "/root" || l.UID != 0 || l.GID != 0 || len(l.CredHelpers) != 0 {
			t.Errorf("%s: %+v, %v", base, l, err)
		}
	}
	if calls != 0 {
		t.Errorf("/etc/passwd read %d times with no credHelpers", calls)
	}
}

func TestJobLayer(t *testing.T) {
	for _, tc := range []struct {
		name      string
		user      string
		env       []string
		passwd    string
		readsFile bool // whether /etc/passwd is read
		home      string
		uid, gid  int
	}{
		{name: "no user", passwd: passwdFile, readsFile: true, home: "/root"},
		{name: "root", user: "root", passwd: passwdFile, readsFile: true, home: "/root"},
		{name: "uid 0", user: "0", passwd: passwdFile, readsFile: true, home: "/root"},
		{name: "root without passwd: /, as runc", user: "root", readsFile: true, home: "/"},
		{name: "root's home from passwd", user: "root", passwd: "root:x:0:0:root:/var/root:/bin/sh\n", readsFile: true, home: "/var/root"},
		{name: "root with HOME", user: "root", env: []string{"HOME=/home/ci"}, home: "/home/ci"},
		{name: "no user, HOME", env: []string{"PATH=/bin", "HOME=/srv/ci"}, home: "/srv/ci"},
		{name: "the last HOME, as Docker", env: []string{"HOME=/a", "HOME=/b"}, home: "/b"},
		{name: "empty HOME is none", user: "root", env: []string{"HOME="}, passwd: passwdFile, readsFile: true, home: "/root"},
		{name: "HOMEDIR is no HOME", user: "root", env: []string{"HOMEDIR=/x", "XHOME=/y"}, passwd: passwdFile, readsFile: true, home: "/root"},
		{name: "named user", user: "bob", passwd: passwdFile, readsFile: true, home: "/home/bob", uid: 1000, gid: 1001},
		{name: "named user with a dash", user: "gitlab-runner", passwd: passwdFile, readsFile: true, home: "/home/gitlab-runner", uid: 999, gid: 998},
		{name: "named user, HOME wins", user: "bob", env: []string{"HOME=/work"}, passwd: passwdFile, readsFile: true, home: "/work", uid: 1000, gid: 1001},
		{name: "numeric uid found", user: "1000", passwd: passwdFile, readsFile: true, home: "/home/bob", uid: 1000, gid: 1001},
		{name: "numeric uid not found, HOME", user: "4242", env: []string{"HOME=/home/x"}, passwd: passwdFile, readsFile: true, home: "/home/x", uid: 4242, gid: 0}, // Docker: a uid without an entry has gid 0
		{name: "numeric uid not found: /, as runc", user: "4242", passwd: passwdFile, readsFile: true, home: "/", uid: 4242, gid: 0},
		{name: "numeric uid, no passwd: /, as runc", user: "4242:7", readsFile: true, home: "/", uid: 4242, gid: 7},
		{name: "numeric uid, no passwd, HOME", user: "4242:7", env: []string{"HOME=/home/x"}, readsFile: true, home: "/home/x", uid: 4242, gid: 7},
		{name: "user:gid", user: "bob:2000", passwd: passwdFile, readsFile: true, home: "/home/bob", uid: 1000, gid: 2000},
		{name: "uid:gid", user: "999:0", passwd: passwdFile, readsFile: true, home: "/home/gitlab-runner", uid: 999, gid: 0},
		{name: "user: (empty group)", user: "bob:", passwd: passwdFile, readsFile: true, home: "/home/bob", uid: 1000, gid: 1001},
		{name: "negative gid is no gid", user: "bob:-1", passwd: passwdFile, readsFile: true, home: "/home/bob", uid: 1000, gid: 1001},
		{name: "CRLF passwd", user: "bob", passwd: strings.ReplaceAll(passwdFile, "\n", "\r\n"), readsFile: true, home: "/home/bob", uid: 1000, gid: 1001},
		{name: "no newline at the end", user: "bob", passwd: "bob:x:5:6::/b:/bin/sh", readsFile: true, home: "/b", uid: 5, gid: 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			l, err := JobLayer(imageWith(t, tc.user, tc.env...), registries, passwdFunc(tc.passwd, nil, &calls))
			if err != nil {
				t.Fatal(err)
			}
			if l.Home != tc.home || l.UID != tc.uid || l.GID != tc.gid {
				t.Errorf("home %q, uid %d, gid %d; want %q, %d, %d", l.Home, l.UID, l.GID, tc.home, tc.uid, tc.gid)
			}
			if !slicesEqual(l.CredHelpers, registries) {
				t.Errorf("credHelpers %v", l.CredHelpers)
			}
			if (calls > 0) != tc.readsFile || calls > 1 {
				t.Errorf("/etc/passwd read %d times", calls)
			}
		})
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

func TestJobLayerRefusals(t *testing.T) {
	readErr := errors.New("solve failed")
	for _, tc := range []struct {
		name   string
		user   string
		env    []string
		passwd string
		err    error
		base   string   // the config, when not of user and env
		want   []string // in the message
	}{
		{name: "user not in passwd", user: "alice", passwd: passwdFile, want: []string{`USER "alice"`, "set HOME in the image", "leave publish.credHelpers out"}},
		{name: "no passwd", user: "bob", want: []string{`USER "bob"`, "set HOME"}},
		{name: "passwd home empty", user: "nohome", passwd: passwdFile, want: []string{`USER "nohome"`, "set HOME"}},
		{name: "passwd home relative", user: "relhome", passwd: passwdFile, want: []string{`"home/relhome"`, "set HOME"}},
		{name: "HOME relative", user: "root", env: []string{"HOME=root"}, want: []string{`"root"`}},
		{name: "HOME with ..", user: "bob", env: []string{"HOME=/a/../b"}, passwd: passwdFile, want: []string{`"/a/../b"`}},
		{name: "HOME with .", env: []string{"HOME=/a/./b"}, want: []string{`"/a/./b"`}},
		{name: "HOME //", env: []string{"HOME=//root"}, want: []string{`"//root"`}},
		{name: "HOME ..", env: []string{"HOME=/.."}, want: []string{`"/.."`}},
		{name: "passwd unreadable", user: "bob", err: readErr, want: []string{"/etc/passwd", `USER "bob"`, "solve failed"}},
		{name: "config not an image's", base: `{"config": {"User": 5}}`, want: []string{"config"}},
		{name: "config not JSON", base: `{"config"`, want: []string{"config"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := imageWith(t, tc.user, tc.env...)
			if tc.base != "" {
				base = []byte(tc.base)
			}
			calls := 0
			l, err := JobLayer(base, registries, passwdFunc(tc.passwd, tc.err, &calls))
			if err == nil {
				t.Fatalf("no error: %+v", l)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v: does not say %q", err, w)
				}
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("%v does not wrap %v", err, tc.err)
			}
		})
	}
}

// An /etc/passwd is the image's: whatever it holds, a lookup finds the
// user's well-formed line or nothing, and never panics.
func TestJobLayerHostilePasswd(t *testing.T) {
	huge := strings.Repeat("x", 1<<20)
	for _, tc := range []struct {
		name     string
		passwd   string
		home     string // "" for an error
		uid, gid int
	}{
		{name: "a huge line before", passwd: huge + "\n" + "bob:x:7:8::/home/bob:/bin/sh\n", home: "/home/bob", uid: 7, gid: 8},
		{name: "a huge home", passwd: "bob:x:7:8::/" + huge + ":/bin/sh\n", home: "/" + huge, uid: 7, gid: 8},
		{name: "a huge number of colons", passwd: "bob" + strings.Repeat(":", 1<<16) + "\n"},
		{name: "missing fields", passwd: "bob:x:7:8:/home/bob\nbob:x:7\nbob\n"},
		{name: "missing fields, then a good line", passwd: "bob:x:7:8:/home/bob\nbob:x:9:10::/home/b2:/bin/sh\n", home: "/home/b2", uid: 9, gid: 10},
		{name: "negative uid", passwd: "bob:x:-7:8::/home/bob:/bin/sh\n"},
		{name: "negative gid", passwd: "bob:x:7:-8::/home/bob:/bin/sh\n"},
		{name: "non-numeric ids", passwd: "bob:x:seven:8::/home/bob:/bin/sh\nbob:x:7:eight::/home/bob:/bin/sh\nbob:x:0x7:8::/home/bob:/bin/sh\n"},
		{name: "empty ids", passwd: "bob:x:::/home/bob:/bin/sh\n"},
		{name: "empty", passwd: "\n\n\n"},
		{name: "binary", passwd: "\x00\xff\xfe:bob:\x00\n"},
		{name: "the first good line wins", passwd: "bob:x:7:8::/first:/bin/sh\nbob:x:9:9::/second:/bin/sh\n", home: "/first", uid: 7, gid: 8},
		{name: "extra fields", passwd: "bob:x:7:8::/home/bob:/bin/sh:extra:more\n", home: "/home/bob", uid: 7, gid: 8},
		{name: "home with ..", passwd: "bob:x:7:8::/home/../etc:/bin/sh\n"},
		{name: "home / (config.json at /.docker)", passwd: "bob:x:7:8::/:/bin/sh\n", home: "/", uid: 7, gid: 8},
		{name: "a name that is a prefix", passwd: "bobby:x:7:8::/home/bobby:/bin/sh\nbo:x:7:8::/home/bo:/bin/sh\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			l, err := JobLayer(imageWith(t, "bob"), registries, passwdFunc(tc.passwd, nil, &calls))
			if tc.home == "" {
				if err == nil {
					t.Fatalf("no error: home %q uid %d gid %d", l.Home, l.UID, l.GID)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if l.Home != tc.home || l.UID != tc.uid || l.GID != tc.gid {
				t.Errorf("home %.40q, uid %d, gid %d; want %.40q, %d, %d", l.Home, l.UID, l.GID, tc.home, tc.uid, tc.gid)
			}
		})
	}
}

// BUG: ids beyond what an image can use are taken as they are; BuildKit's
// LLB keeps a uid as a uint32, so 4294967296 owns config.json as root.
// Docker (moby/sys/user) refuses ids above 2147483647.
func TestJobLayerIDsOutOfRange(t *testing.T) {
	for _, tc := range []struct{ user, passwd string }{
		{"bob", "bob:x:4294967296:4294967296::/home/bob:/bin/sh\n"},
		{"bob", "bob:x:7:99999999999::/home/bob:/bin/sh\n"},
		{"4294967296", ""},
		{"bob:4294967296", "bob:x:7:8::/home/bob:/bin/sh\n"},
	} {
		calls := 0
		l, err := JobLayer(imageWith(t, tc.user, "HOME=/home/x"), registries, passwdFunc(tc.passwd, nil, &calls))
		if err == nil && (l.UID > 1<<31-1 || l.GID > 1<<31-1) {
			t.Errorf("USER %s, passwd %q: uid %d gid %d", tc.user, tc.passwd, l.UID, l.GID)
		}
	}
}

// BUG: a numeric USER is a uid to Docker (moby/sys/user matches it against
// the uid field alone), but lookupUser also matches it against names.
func TestJobLayerNumericUserIsAUID(t *testing.T) {
	calls := 0
	l, err := JobLayer(imageWith(t, "1000"), registries, passwdFunc("1000:x:0:0::/root:/bin/sh\nbob:x:1000:1001::/home/bob:/bin/sh\n", nil, &calls))
	if err != nil || l.UID != 1000 || l.GID != 1001 || l.Home != "/home/bob" {
		t.Errorf("USER 1000: %+v, %v; want bob's uid, gid and home", l, err)
	}
}
