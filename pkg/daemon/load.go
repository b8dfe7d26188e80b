package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	dockerclient "github.com/moby/moby/client"
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

// pingTimeout bounds CheckLoad's question to the engine.
const pingTimeout = 10 * time.Second

// CheckLoad makes sure, before anything is built, that --load has a Docker
// Engine to load into: on a docker:// daemon the engine itself; otherwise
// the one loadEngine names must answer.
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
