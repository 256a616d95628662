using static TorchSharp.torch;

namespace Bcbp.Kernels.Formats;

/// <summary>
/// Balanced column-wise block sparse weight (BCBP): every row tile keeps the same number of columns
/// (<see cref="KeptPerTile"/>), so every thread block of the kernel does the same work. Indices view as
/// [Tiles x KeptPerTile], values as [Tiles x TileRows x KeptPerTile].
/// </summary>
public sealed class BcbpMatrix : TiledSparseMatrix
{
    BcbpMatrix(long rows, long cols, int tileRows, long[] colPtr, Tensor indices, Tensor values)
        : base(rows, cols, tileRows, colPtr, indices, values) { }

    /// <summary>Columns kept by each tile.</summary>
    public long KeptPerTile => Tiles == 0 ? 0 : Count(0);

    /// <summary>
    /// Packs weight*mask (weight [M x K] or a conv weight [M x C x kh x kw]; mask of the same shape). Throws when
    /// the mask keeps different numbers of column vectors in different row tiles.
    /// </summary>
    public static BcbpMatrix Pack(Tensor weight, Tensor mask, int tileRows, ScalarType dtype = ScalarType.Float32)
    {
        CheckShapes(weight, mask);
        var kept = TileColumns.Kept(mask, tileRows);
        for (int t = 1; t < kept.Length; t++)
            if (kept[t].Length != kept[0].Length)
                throw new ArgumentException(
                    $"mask is not balanced: row tile {t} (rows {t * tileRows}..{Math.Min((t + 1L) * tileRows, weight.shape[0]) - 1}) keeps " +
                    $"{kept[t].Length} column vectors but tile 0 keeps {kept[0].Length} (tile_rows={tileRows}, {kept.Length} tiles). " +
                    "BCBP needs the same count in every tile: prune with method bcbp and the same tile_rows, or pack it as a BlockSparseMatrix.");
        using var scope = NewDisposeScope();
        var w2 = (TileColumns.Flatten(weight) * TileColumns.Flatten(mask)).to(ScalarType.Float32).cpu();
        var (colPtr, indices, values) = Gather(w2, kept, tileRows, dtype);
        return new BcbpMatrix(w2.shape[0], w2.shape[1], tileRows, colPtr, indices.MoveToOuterDisposeScope(), values.MoveToOuterDisposeScope());
    }

    /// <summary>Indices as [Tiles x KeptPerTile] (int32).</summary>
    public Tensor IndicesByTile => Indices.view(Tiles, KeptPerTile);
    /// <summary>Values as [Tiles x TileRows x KeptPerTile].</summary>
    public Tensor ValuesByTile => Values.view(Tiles, TileRows, KeptPerTile);

    internal static void CheckShapes(Tensor weight, Tensor mask)
    {
        if (!weight.shape.SequenceEqual(mask.shape))
            throw new ArgumentException($"weight_mask shape [{string.Join(", ", mask.shape)}] differs from weight shape [{string.Join(", ", weight.shape)}]");
    }
}
