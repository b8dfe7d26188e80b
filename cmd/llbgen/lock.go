package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/spf13/cobra"

	"github.com/llbgen/llbgen/pkg/daemon"
	"github.com/llbgen/llbgen/pkg/lock"
	"github.com/llbgen/llbgen/pkg/plan"
)

const lockExample = `  # pin targets.yaml's images and helper module into targets.yaml.lock
  llbgen lock

  # in CI: fail when re-resolving would change the lock
  llbgen lock --check`

func newLockCmd(stderr io.Writer) *cobra.Command {
	var list listOptions
	var dopts daemonOptions
	var check bool
	cmd := &cobra.Command{
		Use:   "lock [-f FILE] [--check]",
		Short: "Pin every image and the helper module of a target list into FILE.lock",
		Long: `lock resolves, on the BuildKit daemon and with your registry credentials,
every image of the list (each target's and the go image) to its manifest
digest, for the daemon's platform and for each platform a target names
(and the go image on the platforms its cgo targets compile on), and
downloads the helper module with the
Go checksum database on to record its h1: hash. It writes FILE.lock beside
the list, one line per image.

llbgen build --locked, and every other way of building, then build from
exactly these inputs. --check writes nothing and exits 1 when re-resolving
would change the lock.`,
		Example: lockExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(list.images) > 0 {
				return usagef("lock pins a target list file; --image is not for lock")
			}
			if list.file == stdinFile {
				return usagef("lock writes FILE.lock beside the target list, and -f - has no file; write the list to a file and lock that")
			}
			if err := dopts.Validate(stderr); err != nil {
				return err
			}
			l, err := list.load(cmd.Flags())
			if err != nil {
				return err
			}
			// The lock records what the checksum database vouched for, so
			// an existing lock does not excuse skipping it (Locking).
			in := list.input(l, nil)
			in.Locking = true
			if err := plan.Check(in); err != nil {
				return err
			}
			f, err := daemon.Lock(cmd.Context(), l, dopts.options(stderr, in))
			if err != nil {
				return err
			}
			path := lock.Path(list.file)
			if check {
				return checkLock(path, f, stderr)
			}
			if err := f.Write(path); err != nil {
				return err
			}
			var mods []string
			for _, m := range f.Modules() {
				mods = append(mods, m.Module+"@"+m.Version+" "+m.Sum)
			}
			fmt.Fprintf(stderr, "wrote %s: %d images, %s\n", path, f.Len(), strings.Join(mods, ", "))
			return nil
		},
	}
	list.addFlags(cmd.Flags())
	dopts.addFlags(cmd.Flags())
	cmd.Flags().BoolVar(&check, "check", false, "write nothing; exit 1 when the lock is missing or re-resolving would change it")
	return cmd
}

// errLockStale ends `lock --check` when the lock would change.
type errLockStale struct{ path string }

func (e errLockStale) Error() string { return e.path + " is out of date; run llbgen lock" }

func checkLock(path string, fresh *lock.File, stderr io.Writer) error {
	old, err := lock.Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return errLockStale{path}
	}
	if err != nil {
		return err
	}
	a, _ := old.Marshal()
	b, _ := fresh.Marshal()
	if bytes.Equal(a, b) {
		fmt.Fprintf(stderr, "%s is up to date\n", path)
		return nil
	}
	fmt.Fprintf(stderr, "%s would change:\n  %s\n", path, strings.Join(lock.Diff(old, fresh), "\n  "))
	return errLockStale{path}
}
