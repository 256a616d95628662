using static TorchSharp.torch;

namespace Bcbp.Kernels.Formats;

/// <summary>
/// Unbalanced tiled sparse weight: each row tile keeps its own number of columns (what block pruning by a global or
/// layer-wide threshold leaves). The kernel for it is the BCBP kernel reading per-tile offsets; its slowest tile sets
/// the time, which is what <see cref="TiledSparseMatrix.Wit"/> measures.
/// </summary>
public sealed class BlockSparseMatrix : TiledSparseMatrix
{
    BlockSparseMatrix(long rows, long cols, int tileRows, long[] colPtr, Tensor indices, Tensor values)
        : base(rows, cols, tileRows, colPtr, indices, values) { }

    /// <summary>Packs weight*mask with any number of kept column vectors per row tile.</summary>
    public static BlockSparseMatrix Pack(Tensor weight, Tensor mask, int tileRows, ScalarType dtype = ScalarType.Float32)
    {
        BcbpMatrix.CheckShapes(weight, mask);
        var kept = TileColumns.Kept(mask, tileRows);
        using var scope = NewDisposeScope();
        var w2 = (TileColumns.Flatten(weight) * TileColumns.Flatten(mask)).to(ScalarType.Float32).cpu();
        var (colPtr, indices, values) = Gather(w2, kept, tileRows, dtype);
        return new BlockSparseMatrix(w2.shape[0], w2.shape[1], tileRows, colPtr, indices.MoveToOuterDisposeScope(), values.MoveToOuterDisposeScope());
    }
}
