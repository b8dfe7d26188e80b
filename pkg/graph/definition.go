package graph

import (
	"context"
	"fmt"

	"github.com/moby/buildkit/client/llb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/protobuf/proto"
)

// Definition marshals st for platform p and encodes it as buildctl reads it
// from stdin. Unlike llb.WriteTo, the encoding is deterministic: the
// definition's metadata is a map, and the same list must give the same bytes.
func Definition(ctx context.Context, st llb.State, p ocispecs.Platform) ([]byte, error) {
	def, err := st.Marshal(ctx, llb.Platform(p))
	if err != nil {
		return nil, fmt.Errorf("marshalling the graph: %w", err)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(def.ToPB())
	if err != nil {
		return nil, fmt.Errorf("encoding the definition: %w", err)
	}
	return b, nil
}
