package targets

import "testing"

func TestStrings(t *testing.T) {
	p := Pos{File: "targets.yaml", Line: 7, Col: 5}
	list := ErrorList{{Pos: p, Msg: "a"}, {Pos: Pos{"--image", 2, 1}, Msg: "b"}}
	tests := []struct {
		name, got, want string
	}{
		{"pos", p.String(), "targets.yaml:7:5"},
		{"error", (&Error{Pos: p, Msg: "target name \"x\" is used twice"}).Error(), "targets.yaml:7:5: target name \"x\" is used twice"},
		{"error list", list.Error(), "targets.yaml:7:5: a\n--image:2:1: b"},
		{"bare version", Helper{Version: "v0.12.0"}.Bare(), "0.12.0"},
		{"file name", Target{Name: "docker_19.03.12"}.Binaries()[0].FileName(), "docker-credential-ecr-login-docker_19.03.12"},
		{"default go", defaultGo().Full, "docker.io/library/golang:1.26"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}
