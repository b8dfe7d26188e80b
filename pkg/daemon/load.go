package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	dockerclient "github.com/moby/moby/client"

	"github.com/llbgen/llbgen/pkg/publish"
)

// loadEngine is the Docker Engine --load loads into from a buildkitd: the
// one the docker CLI would use (DOCKER_HOST, else the Docker context, else
// Docker's default socket), as docker:// alone means.
func loadEngine() (*dockerclient.Client, string, error) {
	host, from, err := EnvDockerHost()
	if err != nil {
		return nil, "", err
	}
	if err := CheckDockerHost(host); err != nil {
		return nil, "", fmt.Errorf("%s %q: %w", from, host, err)
	}
	dc, err := dockerAPI(host)
	if err != nil {
		return nil, "", fmt.Errorf("Docker Engine at %s: %w", host, err)
	}
	return dc, host, nil
}

// pingTimeout bounds each question to the engine to the engine.
const pingTimeout = 10 * time.Second

// CheckLoad makes sure, before anything is built, that --load has a
// Docker Engine to load into: on a docker:// daemon the engine itself;
// otherwise the one loadEngine names must answer.
func CheckLoad(ctx context.Context, addr string) error {
	if _, ok := DockerHost(addr); ok {
		return nil
	}
	dc, host, err := loadEngine()
	if err != nil {
		return fmt.Errorf("--load: %w", err)
	}
	defer dc.Close()
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if _, err := dc.Ping(ctx, dockerclient.PingOptions{}); err != nil {
		return fmt.Errorf("--load loads into Docker Engine at %s, which does not answer (%v); start it, point DOCKER_HOST at one, or leave --load out", host, err)
	}
	return nil
}

// checkLoadStore refuses, once the plan says which images have several
// platforms and before anything is built, to load such an image into a
// Docker Engine on its classic image store, which holds one platform per
// image (a docker:// daemon's store was checked on connecting).
func (s *solve) checkLoadStore(ctx context.Context, p *prepared) error {
	if !s.opt.Publish.Load || s.onEngine() {
		return nil
	}
	imgs, err := s.wantedImages(p)
	if err != nil {
		return nil // publishImages says so, per image
	}
	i := slices.IndexFunc(imgs, func(img publish.Image) bool { return len(img.Platforms) > 1 })
	if i < 0 {
		return nil
	}
	dc, host, err := loadEngine()
	if err != nil {
		return fmt.Errorf("--load: %w", err)
	}
	defer dc.Close()
	return checkStore(ctx, dc, host, imgs[i].What())
}

// driverTypeContainerd is the driver-type a Docker Engine on its
// containerd image store gives in /info's DriverStatus.
const driverTypeContainerd = "io.containerd.snapshotter.v1"

// checkStore refuses an engine on the classic image store for multi, a
// multi-platform image.
func checkStore(ctx context.Context, dc *dockerclient.Client, host, multi string) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	res, err := dc.Info(ctx, dockerclient.InfoOptions{})
	if err != nil {
		return fmt.Errorf("--load: asking Docker Engine at %s which image store it has, for %s, which is multi-platform: %w; make sure the engine answers, or leave --load out", host, multi, err)
	}
	for _, kv := range res.Info.DriverStatus {
		if kv[0] == "driver-type" && kv[1] == driverTypeContainerd {
			return nil
		}
	}
	return fmt.Errorf("--load: %s is multi-platform, and Docker Engine at %s keeps images in its classic store (storage driver %q), which holds one platform per image; turn on its containerd image store (%s), or --publish only single-platform images", multi, host, res.Info.Driver, containerdStoreDoc)
}

// loadIntoDocker starts loading an image tarball into loadEngine's engine,
// as `docker load` does: the image exporter writes into w. wait, given the
// build's error, closes w and returns the load's error.
func loadIntoDocker(ctx context.Context) (io.WriteCloser, func(error) error, error) {
	dc, host, err := loadEngine()
	if err != nil {
		return nil, nil, err
	}
	r, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		res, err := dc.ImageLoad(ctx, r)
		if err == nil {
			err = loadMessages(res)
			res.Close()
		}
		r.CloseWithError(err) // the exporter's writes fail, not hang, once the load ended
		done <- err
	}()
	wait := func(buildErr error) error {
		w.CloseWithError(buildErr)
		err := <-done
		dc.Close()
		if err != nil {
			return fmt.Errorf("loading into Docker Engine at %s: %w", host, err)
		}
		return nil
	}
	return w, wait, nil
}

// loadMessages reads the engine's answer to a load, a stream of JSON
// messages, and returns the error one of them carries.
func loadMessages(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading the engine's answer: %w", err)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}
