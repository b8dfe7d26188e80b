package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/pflag"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/lock"
	"github.com/llbgen/llbgen/pkg/plan"
	"github.com/llbgen/llbgen/pkg/targets"
)

// listOptions are the flags that choose what to build, shared by every verb
// that reads a target list.
type listOptions struct {
	file          string
	fileSet       bool
	images        []targets.ImageArg
	helperVersion string
}

func (o *listOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.file, "file", "f", "targets.yaml", "target list to read; - reads it from standard input (no lock then)")
	fs.Var(&imageFlag{o}, "image", "build for this image instead of the file's targets (repeatable)")
	fs.Var(&nameFlag{o}, "name", "name of the target made by the --image just before it")
	fs.StringVar(&o.helperVersion, "helper-version", "", "build this version of the helper (overrides helper.version)")
}

// load reads the list the flags ask for. With --image, the file is optional:
// it still supplies helper.version and go when it exists.
func (o *listOptions) load(flags *pflag.FlagSet) (*targets.List, error) {
	var list *targets.List
	var err error
	if len(o.images) == 0 {
		list, err = loadFile(o.file)
	} else {
		var base *targets.List
		if _, statErr := os.Stat(o.file); statErr == nil || flags.Changed("file") {
			if base, err = loadFile(o.file); err != nil {
				return nil, err
			}
		}
		list, err = targets.FromImages(base, o.images)
	}
	if err != nil {
		return nil, err
	}
	if o.helperVersion != "" {
		if err := list.SetHelperVersion(o.helperVersion, "--helper-version"); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// loadFile reads a target list; a file that cannot be read is bad input
// like a file that does not parse. targets.Load reads at most one byte past
// targets.MaxFileBytes, so -f /dev/zero, a FIFO or /dev/stdin is refused as
// quickly as a large file.
func loadFile(file string) (*targets.List, error) {
	var list *targets.List
	var err error
	if file == stdinFile {
		list, err = loadStdin()
	} else {
		list, err = targets.Load(file)
	}
	var refusals targets.ErrorList
	switch {
	case err == nil:
		return list, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, usagef("no target list at %s: write one (see README) or name images with --image", file)
	case errors.As(err, &refusals):
		return nil, err
	}
	return nil, usageError{err}
}

// stdinFile is the -f that reads the list from standard input.
const stdinFile = "-"

// stdinName names a list read from standard input in messages
// ("<stdin>:7:5: ...").
const stdinName = "<stdin>"

// loadStdin reads a target list from standard input, at most one byte past
// targets.MaxFileBytes, as from a file.
func loadStdin() (*targets.List, error) {
	data, err := io.ReadAll(io.LimitReader(os.Stdin, targets.MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the target list from standard input: %w", err)
	}
	if len(data) == 0 {
		return nil, usagef("-f -: standard input is empty; pipe the target list in, e.g. llbgen build -f - < targets.yaml")
	}
	return targets.Parse(stdinName, data)
}

// imageFlag and nameFlag share one ordered list, so that each --name belongs
// to the --image before it.
type imageFlag struct{ o *listOptions }

func (f *imageFlag) String() string { return "" }
func (f *imageFlag) Type() string   { return "REF" }
func (f *imageFlag) Set(v string) error {
	f.o.images = append(f.o.images, targets.ImageArg{Image: v})
	return nil
}

type nameFlag struct{ o *listOptions }

func (f *nameFlag) String() string { return "" }
func (f *nameFlag) Type() string   { return "NAME" }
func (f *nameFlag) Set(v string) error {
	n := len(f.o.images)
	if n == 0 {
		return errors.New("--name must follow the --image it names")
	}
	if f.o.images[n-1].Name != "" {
		return fmt.Errorf("--image %s already has the name %q", f.o.images[n-1].Image, f.o.images[n-1].Name)
	}
	f.o.images[n-1].Name = v
	return nil
}

// lock returns the lock of a file-based list: required, it must exist;
// otherwise it is used when it exists (the plan refuses it when it does
// not cover the list). Lists made from --image flags have none.
func (o *listOptions) lock(list *targets.List, required bool) (*lock.File, error) {
	if len(o.images) > 0 {
		if required {
			return nil, usagef("--locked needs a target list file; --image lists have no lock")
		}
		return nil, nil
	}
	if o.file == stdinFile {
		if required {
			return nil, usagef("--locked needs a target list file; a list on standard input (-f -) has no lock: write it to a file beside its lock")
		}
		return nil, nil
	}
	path := lock.Path(o.file)
	f, err := lock.Read(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && required:
		return nil, usagef("--locked: no lock at %s; write it with llbgen lock -f %s", path, o.file)
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, usageError{err}
	}
	return f, nil
}

// lockPath is the lock of a file-based list, "" for one on standard input.
func (o *listOptions) lockPath() string {
	if o.file == stdinFile {
		return ""
	}
	return lock.Path(o.file)
}

// input is what every verb asks the plan for (plan.Check before any
// daemon is contacted, plan.Make to decide): the list, its lock, and
// llbgen's environment (module settings, SOURCE_DATE_EPOCH).
func (o *listOptions) input(list *targets.List, lk *lock.File) plan.Input {
	return plan.Input{
		List:            list,
		Lock:            lk,
		LockPath:        o.lockPath(),
		Env:             graph.EnvFromOS(),
		SourceDateEpoch: os.Getenv("SOURCE_DATE_EPOCH"),
	}
}

// planned is what build and matrix do before they contact a daemon: load
// the list, its lock (required with locked), and check the half of the
// plan that needs no daemon, so bad input is refused first.
func (o *listOptions) planned(fs *pflag.FlagSet, locked bool) (*targets.List, plan.Input, error) {
	list, err := o.load(fs)
	if err != nil {
		return nil, plan.Input{}, err
	}
	lk, err := o.lock(list, locked)
	if err != nil {
		return nil, plan.Input{}, err
	}
	in := o.input(list, lk)
	if err := plan.Check(in); err != nil {
		return nil, plan.Input{}, err
	}
	return list, in, nil
}
