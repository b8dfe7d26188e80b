package targets

import "testing"

// The known helpers carry upstream's release flags; ecr-login's give the
// flags llbgen always gave (the same bits), and the module cache path of a
// module with capitals is escaped as Go writes it.
func TestKnownHelpers(t *testing.T) {
	ecr, ok := KnownHelper("ecr-login")
	if !ok || ecr.Module != HelperModule || ecr.Binary() != "docker-credential-ecr-login" {
		t.Fatalf("ecr-login: %+v", ecr)
	}
	if got, want := ecr.LDFlags("v0.12.0"), "-s -buildid= -X github.com/awslabs/amazon-ecr-credential-helper/ecr-login/version.Version=0.12.0"; got != want {
		t.Errorf("ecr-login ldflags %q, want %q", got, want)
	}
	if got := ecr.Want("v0.12.0"); got != "0.12.0" {
		t.Errorf("ecr-login wants %q", got)
	}
	gcr, _ := KnownHelper("gcr")
	if got := gcr.CacheDir(); got != "github.com/!google!cloud!platform/docker-credential-gcr/v2" {
		t.Errorf("gcr's module cache directory %q", got)
	}
	if got, want := gcr.LDFlags("v2.2.1"), "-s -w -buildid= -X github.com/GoogleCloudPlatform/docker-credential-gcr/v2/config.Version=2.2.1"; got != want {
		t.Errorf("gcr ldflags %q, want %q", got, want)
	}
	ss, _ := KnownHelper("secretservice")
	if !ss.Cgo || ss.Want("v0.9.13") != "v0.9.13" || ss.Package != "./secretservice/cmd" {
		t.Errorf("secretservice: %+v", ss)
	}
	if got, want := ss.LDFlags("v0.9.13"), "-s -w -buildid= -X github.com/docker/docker-credential-helpers/credentials.Version=v0.9.13 -X github.com/docker/docker-credential-helpers/credentials.Package=github.com/docker/docker-credential-helpers -X github.com/docker/docker-credential-helpers/credentials.Name=docker-credential-secretservice"; got != want {
		t.Errorf("secretservice ldflags %q, want %q", got, want)
	}
	if pass, _ := KnownHelper("pass"); pass.Cgo || pass.Binary() != "docker-credential-pass" {
		t.Errorf("pass: %+v", pass)
	}
	if _, ok := KnownHelper("acme"); ok {
		t.Error("an unknown helper is known")
	}
	if got := KnownHelperNames(); len(got) != 4 || got[0] != "ecr-login" {
		t.Errorf("known helpers %q", got)
	}
}
