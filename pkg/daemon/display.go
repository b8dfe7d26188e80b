package daemon

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"
)

// display shows BuildKit's progress and feeds the collector that failure
// causes are read from.
type display struct {
	status chan *client.SolveStatus
	wg     sync.WaitGroup
}

func startDisplay(ctx context.Context, out io.Writer, mode progressui.DisplayMode, col *collector) (*display, error) {
	ui, err := progressui.NewDisplay(out, mode)
	if err != nil {
		return nil, fmt.Errorf("progress display: %w", err)
	}
	d := &display{status: make(chan *client.SolveStatus)}
	shown := make(chan *client.SolveStatus)
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		defer close(shown)
		for s := range d.status {
			col.add(s)
			shown <- s
		}
	}()
	go func() {
		defer d.wg.Done()
		// Drain until the status channel closes, even when ctx is canceled,
		// so BuildKit's last words are shown.
		ui.UpdateFrom(context.WithoutCancel(ctx), shown)
	}()
	return d, nil
}

// wait returns once everything sent has been shown. client.Build closes the
// status channel when it returns.
func (d *display) wait() { d.wg.Wait() }
