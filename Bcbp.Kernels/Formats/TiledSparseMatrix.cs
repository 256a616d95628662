using static TorchSharp.torch;

namespace Bcbp.Kernels.Formats;

/// <summary>
/// A sparse weight W [Rows x Cols] (Cols = in channels * kh * kw, PyTorch's <c>weight.reshape(M, -1)</c>) cut into row
/// tiles of <see cref="TileRows"/> rows, each keeping its own set of columns. Tile t keeps the columns
/// <c>Indices[ColPtr[t] .. ColPtr[t+1])</c> (int32, ascending) and stores their values densely as
/// [TileRows x count], row-major, at <c>Values[ColPtr[t] * TileRows ..]</c>; rows past <see cref="Rows"/> in the last
/// tile are zero. <see cref="BcbpMatrix"/> (equal counts) and <see cref="BlockSparseMatrix"/> (any counts) share it.
/// </summary>
public abstract class TiledSparseMatrix
{
    protected TiledSparseMatrix(long rows, long cols, int tileRows, long[] colPtr, Tensor indices, Tensor values)
    {
        Rows = rows; Cols = cols; TileRows = tileRows; ColPtr = colPtr; Indices = indices; Values = values;
    }

    /// <summary>M: output channels / out features.</summary>
    public long Rows { get; }
    /// <summary>K: the flattened input dimension.</summary>
    public long Cols { get; }
    /// <summary>Rows per tile (the pruning tile's <c>tile_rows</c>).</summary>
    public int TileRows { get; }
    /// <summary>Number of row tiles, ceil(Rows / TileRows).</summary>
    public int Tiles => ColPtr.Length - 1;
    /// <summary>Tile t's kept columns start at ColPtr[t]; ColPtr[Tiles] = total kept columns.</summary>
    public long[] ColPtr { get; }
    /// <summary>Kept column indices of all tiles, int32, concatenated.</summary>
    public Tensor Indices { get; }
    /// <summary>Compact values of all tiles, concatenated [TileRows x count] blocks (fp32, fp16 or bf16).</summary>
    public Tensor Values { get; }

    /// <summary>Takes <see cref="Indices"/> and <see cref="Values"/> out of the caller's dispose scope, for an owner that
    /// outlives it (a sparse module, like a Parameter); returns this.</summary>
    public TiledSparseMatrix DetachFromDisposeScope()
    {
        Indices.DetachFromDisposeScope(); Values.DetachFromDisposeScope();
        return this;
    }

    /// <summary>Kept columns of tile t.</summary>
    public long Count(int tile) => ColPtr[tile + 1] - ColPtr[tile];
    /// <summary>Kept column indices of tile t (int64, for index_select).</summary>
    public Tensor TileIndices(int tile) => Indices.narrow(0, ColPtr[tile], Count(tile)).to(ScalarType.Int64);
    /// <summary>Compact values of tile t, [TileRows x count].</summary>
    public Tensor TileValues(int tile) => Values.narrow(0, ColPtr[tile] * TileRows, Count(tile) * TileRows).view(TileRows, Count(tile));

    /// <summary>Fraction of W's entries that are not stored.</summary>
    public double Sparsity => 1.0 - (double)ColPtr[^1] * TileRows / (Tiles * (double)TileRows * Cols);

    /// <summary>Workload imbalance among the row tiles (<see cref="TileBalance.Wit"/> of their kept column counts).</summary>
    public double Wit => TileBalance.Wit(Enumerable.Range(0, Tiles).Select(t => (double)Count(t)).ToArray());

    /// <summary>The dense [Rows x Cols] matrix (masked weight), in the values' dtype.</summary>
    public Tensor ToDense()
    {
        using var scope = NewDisposeScope();
        var dense = zeros(Tiles * (long)TileRows, Cols, dtype: Values.dtype);
        for (int t = 0; t < Tiles; t++)
            if (Count(t) > 0)
                dense.narrow(0, t * (long)TileRows, TileRows).index_copy_(1, TileIndices(t), TileValues(t));
        return dense.narrow(0, 0, Rows).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Splits weight*mask ([M x K], any rank that flattens to it) into tiles with the given kept columns.</summary>
    protected static (long[] colPtr, Tensor indices, Tensor values) Gather(Tensor weight2d, IReadOnlyList<long[]> kept, int tileRows, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        long m = weight2d.shape[0], k = weight2d.shape[1];
        var padded = zeros(kept.Count * (long)tileRows, k, dtype: ScalarType.Float32);
        padded.narrow(0, 0, m).copy_(weight2d);
        var colPtr = new long[kept.Count + 1];
        var idx = new List<Tensor>(); var vals = new List<Tensor>();
        for (int t = 0; t < kept.Count; t++)
        {
            colPtr[t + 1] = colPtr[t] + kept[t].Length;
            var ti = tensor(kept[t], dtype: ScalarType.Int64);
            idx.Add(ti.to(ScalarType.Int32));
            vals.Add(padded.narrow(0, t * (long)tileRows, tileRows).index_select(1, ti).reshape(-1));
        }
        var indices = idx.Count > 0 ? cat(idx, 0) : zeros(0, dtype: ScalarType.Int32);
        var values = cat(vals, 0).to(dtype);
        return (colPtr, indices.MoveToOuterDisposeScope(), values.MoveToOuterDisposeScope());
    }
}
