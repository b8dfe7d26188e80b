package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sync"

	"github.com/docker/cli/cli/config"
	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/outdir"
	"github.com/llbgen/llbgen/pkg/targets"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/util/grpcerrors"
	"github.com/moby/buildkit/util/progress/progressui"
	"google.golang.org/grpc/codes"
)

// LostError says the connection to the daemon broke during the build.
type LostError struct {
	Addr string
	Err  error
}

func (e *LostError) Error() string {
	return fmt.Sprintf("lost the connection to BuildKit at %s (did the daemon stop?): %v; nothing was written, run again once it is back", e.Addr, firstLine(e.Err.Error()))
}

func (e *LostError) Unwrap() error { return e.Err }

// Run builds list on the daemon and lands the verified binaries in out. It
// returns an error only when the run as a whole failed (no daemon, lost
// connection, canceled); then out is left as it was. Failed targets are in
// the Outcome.
func Run(ctx context.Context, list *targets.List, out *outdir.Dir, opt Options) (*Outcome, error) {
	c, err := connect(ctx, opt)
	if err != nil {
		return nil, err
	}
	defer c.Close()

	results := make([]Result, len(list.Targets))
	for i, t := range list.Targets {
		results[i] = Result{Target: t, File: t.FileName()}
	}
	solveErrs := make([]error, len(list.Targets))

	col := newCollector()
	status := make(chan *client.SolveStatus)
	shown := make(chan *client.SolveStatus)
	display, err := progressui.NewDisplay(opt.ProgressOut, opt.Progress)
	if err != nil {
		return nil, fmt.Errorf("progress display: %w", err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(shown)
		for s := range status {
			col.add(s)
			shown <- s
		}
	}()
	go func() {
		defer wg.Done()
		// The display drains until the status channel closes, even when
		// ctx is canceled, so BuildKit's last words are shown.
		display.UpdateFrom(context.WithoutCancel(ctx), shown)
	}()

	buildFunc := func(ctx context.Context, gc gateway.Client) (*gateway.Result, error) {
		return nil, solveAll(ctx, gc, list, out, opt, results, solveErrs)
	}
	_, err = c.Build(ctx, client.SolveOpt{Session: attachables()}, "llbgen", buildFunc, status)
	wg.Wait()
	if err == nil {
		err = lostConnection(solveErrs)
	}
	if err != nil {
		out.Discard()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("canceled; the output directory was left as it was: %w", ctx.Err())
		}
		if grpcerrors.Code(err) == codes.Unavailable {
			return nil, &LostError{Addr: opt.Addr, Err: err}
		}
		return nil, fmt.Errorf("building on %s: %w", opt.Addr, err)
	}
	for i, serr := range solveErrs {
		if serr != nil && results[i].Cause == "" {
			results[i].Cause = col.cause(results[i].Target, serr)
		}
	}
	var files []string
	for _, t := range list.Targets {
		files = append(files, t.FileName())
	}
	if err := out.Commit(files); err != nil {
		return nil, fmt.Errorf("writing into %s: %w", out.Path(), err)
	}
	return &Outcome{Out: out, Results: results}, nil
}

// lostConnection picks out a broken connection among per-target errors: it
// fails the run rather than the targets.
func lostConnection(errs []error) error {
	for _, err := range errs {
		if err != nil && grpcerrors.Code(err) == codes.Unavailable {
			return err
		}
	}
	return nil
}

// attachables give the daemon the user's registry credentials
// (~/.docker/config.json, DOCKER_CONFIG), as buildctl does.
func attachables() []session.Attachable {
	cfg := config.LoadDefaultConfigFile(io.Discard)
	return []session.Attachable{authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: authprovider.LoadAuthConfig(cfg),
	})}
}

// solveAll runs inside the build session: resolve, make the graph, solve
// every target in parallel and stage its binary.
func solveAll(ctx context.Context, gc gateway.Client, list *targets.List, out *outdir.Dir, opt Options, results []Result, errs []error) error {
	refs := []string{list.Go.Full}
	for _, t := range list.Targets {
		refs = append(refs, t.Image.Full)
	}
	resolved, unresolved := ResolveImages(ctx, gc, refs)
	if err, bad := unresolved[list.Go.Full]; bad {
		for i := range results {
			results[i].Cause = ImageCause("toolchain image", list.Go.Ref, err)
		}
		return ctx.Err()
	}
	good := *list
	good.Targets = nil
	var idx []int
	for i, t := range list.Targets {
		if err, bad := unresolved[t.Image.Full]; bad {
			results[i].Cause = ImageCause("image", t.Image.Ref, err)
			continue
		}
		results[i].Digest = resolved[t.Image.Full].Digest
		good.Targets = append(good.Targets, t)
		idx = append(idx, i)
	}
	if len(good.Targets) == 0 {
		return ctx.Err()
	}
	g, err := graph.Build(&good, graph.Options{Env: opt.Env, Images: resolved})
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for k, t := range good.Targets {
		i := idx[k]
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = solveOne(ctx, gc, g.Verified[t.Name], t, out, &results[i])
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// chunk keeps each file read under gRPC's message size limit.
const chunk = 4 << 20

func solveOne(ctx context.Context, gc gateway.Client, st llb.State, t targets.Target, out *outdir.Dir, r *Result) error {
	def, err := st.Marshal(ctx, llb.Platform(graph.Platform()))
	if err != nil {
		return err
	}
	res, err := gc.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB(), Evaluate: true})
	if err != nil {
		return err
	}
	ref, err := res.SingleRef()
	if err != nil {
		return err
	}
	name := t.FileName()
	stat, err := ref.StatFile(ctx, gateway.StatRequest{Path: name})
	if err != nil {
		return fmt.Errorf("reading the verified binary: %w", err)
	}
	f, err := out.Stage(name)
	if err != nil {
		return err
	}
	h := sha256.New()
	w := io.MultiWriter(f, h)
	for off := 0; off < int(stat.Size); off += chunk {
		data, err := ref.ReadFile(ctx, gateway.ReadRequest{Filename: name, Range: &gateway.FileRange{Offset: off, Length: min(chunk, int(stat.Size)-off)}})
		if err == nil {
			_, err = w.Write(data)
		}
		if err != nil {
			f.Close()
			return fmt.Errorf("reading the verified binary: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	r.Size = stat.Size
	r.SHA256 = hex.EncodeToString(h.Sum(nil))
	r.Verified = true
	return nil
}
