package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"

	"github.com/llbgen/llbgen/pkg/targets"
)

// jobOp is the file op that makes a job image, and the ops it reads.
type jobOp struct {
	op     *pb.Op
	file   *pb.FileOp
	inputs []*pb.Op // by input index
	digest []digest.Digest
	def    *pb.Definition
}

func decodeJob(t *testing.T, st llb.State) jobOp {
	t.Helper()
	def, err := st.Marshal(context.Background(), llb.Platform(amd64))
	if err != nil {
		t.Fatal(err)
	}
	m := marshalAll(t, st)
	op := m.ops[head(t, st)]
	if op == nil || op.GetFile() == nil {
		t.Fatalf("a job image is made by %v, want a file op", op)
	}
	j := jobOp{op: op, file: op.GetFile(), def: def.ToPB()}
	for _, in := range op.Inputs {
		j.inputs = append(j.inputs, m.ops[digest.Digest(in.Digest)])
		j.digest = append(j.digest, digest.Digest(in.Digest))
	}
	return j
}

// input is the op input i of a file action reads: one of the op's inputs,
// or -1 when it is an earlier action's output (or none).
func (j jobOp) input(i int64) int {
	if i < 0 || i >= int64(len(j.op.Inputs)) {
		return -1
	}
	return int(i)
}

func ids(o *pb.ChownOpt) (uint32, uint32, bool) {
	if o.GetUser() == nil || o.GetGroup() == nil || o.GetUser().GetByName() != nil || o.GetGroup().GetByName() != nil {
		return 0, 0, false
	}
	return o.GetUser().GetByID(), o.GetGroup().GetByID(), true
}

func jobOptions(epoch int64) Options {
	opt := stageOptions()
	opt.SourceDateEpoch = &epoch
	return opt
}

func TestJobImage(t *testing.T) {
	l := stageList(t)
	epoch := int64(1700000000)
	opt := jobOptions(epoch)
	// The daemon resolved alpine:3.12 for arm64 alone: that image is pinned.
	alpineArm := digest.FromString("alpine arm64")
	opt.Images = map[ImageKey]Resolved{{Ref: "docker.io/library/alpine:3.12", Platform: "linux/arm64"}: {Digest: alpineArm}}
	g := mustBuild(t, l, opt)
	layer := JobLayer{Home: "/home/ci", UID: 1000, GID: 1001, CredHelpers: []string{"public.ecr.aws", "123456789012.dkr.ecr.us-east-1.amazonaws.com"}}
	wantCfg, err := DockerConfig(layer.CredHelpers)
	if err != nil {
		t.Fatal(err)
	}
	wantTime := time.Unix(epoch, 0).UnixNano()

	byName := map[string]targets.Binary{}
	for _, b := range l.Binaries() {
		byName[b.Name] = b
	}
	for _, tc := range []struct {
		bin      string
		platform string
		pinned   digest.Digest
	}{
		{"a", "linux/amd64", ""},
		{"runner-cgo", "linux/amd64", ""},     // rooted in its image, not its setup
		{"cgo-arm", "linux/arm64", alpineArm}, // a cgo binary of another platform
		{"multi-linux-arm64", "linux/arm64", alpineArm},
		{"multi-linux-riscv64", "linux/riscv64", ""},
	} {
		t.Run(tc.bin, func(t *testing.T) {
			bin, ok := byName[tc.bin]
			if !ok {
				t.Fatalf("no binary %s", tc.bin)
			}
			st, err := g.JobImage(bin, layer)
			if err != nil {
				t.Fatal(err)
			}
			j := decodeJob(t, st)

			// Rooted on the target image of the binary's platform, as the
			// graph pulls it.
			target, err := g.TargetImage(bin)
			if err != nil {
				t.Fatal(err)
			}
			if len(j.op.Inputs) != 2 {
				t.Fatalf("%d inputs, want the target image and the delivered binary", len(j.op.Inputs))
			}
			img := j.inputs[0]
			if j.digest[0] != head(t, target) || img.GetSource() == nil {
				t.Fatalf("rooted on %v, want the target image", img)
			}
			id := img.GetSource().Identifier
			if got := platforms.Format(platformOfOp(img)); got != tc.platform {
				t.Errorf("rooted on %s for %s, want %s", id, got, tc.platform)
			}
			want := bin.Target.Image.Full
			if tc.pinned != "" {
				if want, err = Pinned(want, tc.pinned); err != nil {
					t.Fatal(err)
				}
			}
			if id != "docker-image://"+want {
				t.Errorf("rooted on %s, want %s", id, want)
			}
			if j.digest[1] != head(t, g.Delivered[bin.Name]) {
				t.Errorf("the binary is not copied from its delivered state")
			}

			a := j.file.Actions
			if len(a) != 6 {
				t.Fatalf("%d actions, want rm, mkdir, copy, rm, mkdir, mkfile", len(a))
			}
			// What the image has at the paths written goes first, so that a
			// symlink there cannot take the write.
			for i, p := range map[int]string{0: HelperPath, 3: "/home/ci/.docker/config.json"} {
				if rm := a[i].GetRm(); rm == nil || rm.Path != p || !rm.AllowNotFound {
					t.Errorf("action %d is %v, want rm %s", i, a[i], p)
				}
			}
			a = append(a[1:3:3], a[4:]...)
			for i, act := range a {
				if want := int64(-1); i == len(a)-1 {
					if act.Output != 0 {
						t.Errorf("the last action's output is %d", act.Output)
					}
				} else if act.Output != want {
					t.Errorf("action %d has output %d", i, act.Output)
				}
				if i > 0 && act.Input < int64(len(j.op.Inputs)) {
					t.Errorf("action %d works on %d, not on the action before", i, act.Input)
				}
			}
			if j.file.Actions[0].Input != 0 {
				t.Errorf("the first action works on input %d, want the target image", j.file.Actions[0].Input)
			}

			bindir := a[0].GetMkdir()
			if bindir == nil || bindir.Path != path.Dir(HelperPath) || bindir.Mode != 0o755 || !bindir.MakeParents || bindir.Timestamp != wantTime {
				t.Errorf("mkdir %v", bindir)
			}
			if u, g, ok := ids(bindir.GetOwner()); bindir.GetOwner() != nil && (!ok || u != 0 || g != 0) {
				t.Errorf("%s owned by %v", bindir.Path, bindir.GetOwner())
			}

			cp := a[1].GetCopy()
			if cp == nil || cp.Src != "/"+bin.FileName() || cp.Dest != HelperPath || cp.Mode != 0o755 || cp.AllowWildcard || cp.AttemptUnpackDockerCompatibility {
				t.Fatalf("copy %v", cp)
			}
			if HelperPath != "/usr/local/bin/docker-credential-ecr-login" {
				t.Errorf("HelperPath %s", HelperPath)
			}
			if u, g, ok := ids(cp.Owner); !ok || u != 0 || g != 0 {
				t.Errorf("the helper owned by %v, want 0:0", cp.Owner)
			}
			if j.input(a[1].SecondaryInput) != 1 {
				t.Errorf("the helper copied from input %d, want the delivered state", a[1].SecondaryInput)
			}

			dir, file := a[2].GetMkdir(), a[3].GetMkfile()
			if dir == nil || dir.Path != "/home/ci/.docker" || dir.Mode != 0o755 || !dir.MakeParents || dir.Timestamp != wantTime {
				t.Errorf("mkdir %v", dir)
			}
			if file == nil || file.Path != "/home/ci/.docker/config.json" || file.Mode != 0o644 || !bytes.Equal(file.Data, wantCfg) || file.Timestamp != wantTime {
				t.Errorf("mkfile %v", file)
			}
			for _, o := range []*pb.ChownOpt{dir.GetOwner(), file.GetOwner()} {
				if u, g, ok := ids(o); !ok || u != 1000 || g != 1001 {
					t.Errorf("owned by %v, want 1000:1001", o)
				}
			}

			name := j.def.Metadata[string(head(t, st))].GetDescription()["llb.customname"]
			if !strings.Contains(name, bin.Name) || !strings.Contains(name, tc.platform) {
				t.Errorf("named %q", name)
			}
		})
	}
}

func TestJobImageWithoutCredHelpers(t *testing.T) {
	l := stageList(t)
	g := mustBuild(t, l, stageOptions())
	for _, bin := range l.Binaries() {
		st, err := g.JobImage(bin, JobLayer{Home: "/home/ci", UID: 1000, GID: 1000})
		if err != nil {
			t.Fatal(err)
		}
		j := decodeJob(t, st)
		if len(j.file.Actions) != 3 || j.file.Actions[0].GetRm() == nil || j.file.Actions[2].GetCopy() == nil || j.file.Actions[2].Output != 0 {
			t.Errorf("%s: actions %v, want rm, mkdir and the copy", bin.Name, j.file.Actions)
		}
		for _, act := range j.file.Actions {
			if act.GetMkfile() != nil || strings.Contains(act.GetMkdir().GetPath(), ".docker") {
				t.Errorf("%s: %v with no credHelpers", bin.Name, act)
			}
			// No epoch: 1970, never the time of the build.
			if ts := act.GetMkdir().GetTimestamp(); act.GetMkdir() != nil && ts != 0 {
				t.Errorf("%s: mkdir dated %d", bin.Name, ts)
			}
		}
	}
}

func TestJobImageDeterministic(t *testing.T) {
	l := stageList(t)
	bin := l.Binaries()[0]
	layer := JobLayer{Home: "/root", CredHelpers: []string{"b.example.com", "a.example.com:5000"}}
	var defs [][][]byte
	for range 2 {
		st, err := mustBuild(t, stageList(t), jobOptions(1)).JobImage(bin, layer)
		if err != nil {
			t.Fatal(err)
		}
		def, err := st.Marshal(context.Background(), llb.Platform(amd64))
		if err != nil {
			t.Fatal(err)
		}
		defs = append(defs, def.Def)
	}
	if !slices.EqualFunc(defs[0], defs[1], bytes.Equal) {
		t.Error("two graphs of one list give two job images")
	}
}

func TestJobImageUnknownBinary(t *testing.T) {
	l := stageList(t)
	g := mustBuild(t, l, stageOptions())
	other := testList("busybox:1").Targets[0].Binaries()[0]
	if _, err := g.JobImage(other, JobLayer{}); err == nil || !strings.Contains(err.Error(), other.Name) {
		t.Errorf("JobImage of a binary the graph does not build: %v", err)
	}
}

func TestDockerConfig(t *testing.T) {
	regs := []string{"123456789012.dkr.ecr.us-east-1.amazonaws.com", "public.ecr.aws", "localhost:5000"}
	data, err := DockerConfig(regs)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]map[string]string
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&cfg); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	if len(cfg) != 1 || len(cfg["credHelpers"]) != len(regs) {
		t.Errorf("config.json %s", data)
	}
	for _, r := range regs {
		if cfg["credHelpers"][r] != "ecr-login" {
			t.Errorf("%s: helper %q", r, cfg["credHelpers"][r])
		}
	}
	if !bytes.HasSuffix(data, []byte("}\n")) {
		t.Errorf("config.json does not end in a newline: %q", data)
	}
	// Any order of the registries, and a registry twice, give one file.
	for _, other := range [][]string{{regs[2], regs[0], regs[1]}, {regs[1], regs[2], regs[0], regs[1]}} {
		again, err := DockerConfig(other)
		if err != nil || !bytes.Equal(again, data) {
			t.Errorf("%v gives %s, want %s", other, again, data)
		}
	}
	// Docker's own type reads it the same.
	var docker struct {
		CredHelpers map[string]string `json:"credHelpers"`
	}
	if err := json.Unmarshal(data, &docker); err != nil || !maps.Equal(docker.CredHelpers, cfg["credHelpers"]) {
		t.Errorf("%+v, %v", docker, err)
	}
}

// BUG: LLB keeps a uid or gid as a uint32 (llb.WithUIDGID converts with
// uint32()), so a JobLayer id of 1<<32 owns config.json as root.
func TestJobImageIDsOutOfRange(t *testing.T) {
	l := stageList(t)
	g := mustBuild(t, l, stageOptions())
	for _, layer := range []JobLayer{
		{Home: "/home/ci", UID: 1 << 32, GID: 7, CredHelpers: []string{"a.example.com"}},
		{Home: "/home/ci", UID: 7, GID: 1<<32 + 5, CredHelpers: []string{"a.example.com"}},
		{Home: "/home/ci", UID: -1, GID: 7, CredHelpers: []string{"a.example.com"}},
	} {
		st, err := g.JobImage(l.Binaries()[0], layer)
		if err != nil {
			continue
		}
		o := decodeJob(t, st).file.Actions[3].GetMkfile().GetOwner()
		u, g, _ := ids(o)
		t.Errorf("uid %d gid %d: config.json owned by %d:%d", layer.UID, layer.GID, u, g)
	}
}

// The image's own config.json is kept and credHelpers merged into it: its
// auths, credsStore and other helpers stay; credHelpers spelled in another
// case is the one merged into; keys that differ only in case (Docker's
// case-insensitive reader takes the last) and what is no JSON object are
// refused.
func TestMergeDockerConfig(t *testing.T) {
	existing := []byte(`{"auths":{"r.example.com":{"auth":"eA=="}},"credsStore":"pass","CREDHELPERS":{"gcr.io":"gcr","public.ecr.aws":"other"}}`)
	data, err := MergeDockerConfig(existing, []string{"public.ecr.aws", "123456789012.dkr.ecr.us-east-1.amazonaws.com"})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"auths":       map[string]any{"r.example.com": map[string]any{"auth": "eA=="}},
		"credsStore":  "pass",
		"credHelpers": map[string]any{"gcr.io": "gcr", "public.ecr.aws": "ecr-login", "123456789012.dkr.ecr.us-east-1.amazonaws.com": "ecr-login"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("merged:\n%s\nwant %v", data, want)
	}
	for _, bad := range []string{`[]`, `null`, `{"credHelpers":[1]}`, `not json`, `{"credHelpers":{},"CREDHELPERS":{"x":"evil"}}`} {
		if _, err := MergeDockerConfig([]byte(bad), []string{"a.example.com"}); err == nil {
			t.Errorf("%s: merged", bad)
		}
	}
	if _, err := MergeDockerConfig(bytes.Repeat([]byte(" "), maxDockerConfig+1), []string{"a.example.com"}); err == nil {
		t.Error("a config.json over the bound was read")
	}
}
