package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/moby/moby/client"
)

// loadIntoDocker starts loading a docker image tarball into the Docker
// Engine that DOCKER_HOST (or Docker's default socket) names, as `docker
// load` does: the image exporter writes into w. wait, given the build's
// error, closes w and returns the load's error.
func loadIntoDocker(ctx context.Context) (io.WriteCloser, func(error) error, error) {
	dc, err := client.New(client.FromEnv)
	if err != nil {
		return nil, nil, fmt.Errorf("--load: Docker: %w", err)
	}
	r, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		res, err := dc.ImageLoad(ctx, r)
		if err == nil {
			err = loadMessages(res)
			res.Close()
		}
		r.CloseWithError(err)
		done <- err
	}()
	wait := func(buildErr error) error {
		w.CloseWithError(buildErr)
		err := <-done
		dc.Close()
		if err != nil {
			return fmt.Errorf("loading into Docker at %s: %w", dc.DaemonHost(), err)
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
