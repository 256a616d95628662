using Bcbp.Kernels.Formats;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Kernels.Ops;

/// <summary>
/// CPU (or any device) reference of the kernels, with TorchSharp alone: per row tile, index_select the kept rows of
/// X and multiply by the compact values. Used where no GPU is present and to check the kernels.
/// </summary>
public static class SparseReference
{
    /// <summary>Y [M x N] = W * X for X [K x N], or per image for X [B x K x N] (Y [B x M x N]); computed in float32,
    /// returned in X's dtype.</summary>
    public static Tensor Gemm(TiledSparseMatrix w, Tensor x, Tensor? bias = null)
    {
        if (x.dim() is not (2 or 3) || x.shape[^2] != w.Cols)
            throw new ArgumentException($"X must be [K x N] or [B x K x N] with K = {w.Cols}, got [{string.Join(", ", x.shape)}]");
        using var scope = NewDisposeScope();
        var xf = x.to(ScalarType.Float32);
        var parts = new List<Tensor>();
        for (int t = 0; t < w.Tiles; t++)
        {
            var vals = w.TileValues(t).to(ScalarType.Float32).to(x.device);
            var shape = x.shape.ToArray(); shape[^2] = w.TileRows;
            parts.Add(w.Count(t) == 0 ? zeros(shape, device: x.device)
                : vals.matmul(xf.index_select(-2, w.TileIndices(t).to(x.device))));
        }
        var y = cat(parts, -2).narrow(-2, 0, w.Rows);
        if (bias is not null) y = y + bias.to(ScalarType.Float32).to(x.device).unsqueeze(1);
        return y.to(x.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>Largest im2col block the reference builds at once (elements): batches are cut into chunks below it, so a
    /// big batch does not allocate (and page-fault through) hundreds of megabytes per layer.</summary>
    const long ChunkElements = 1L << 22;

    /// <summary>conv2d(x, W) for x [B x C x H x W] through an explicit im2col and <see cref="Gemm"/>, per image (no
    /// transpose of the im2col matrix), a chunk of images at a time.</summary>
    public static Tensor Conv2d(TiledSparseMatrix w, Tensor x, ConvGeometry g, Tensor? bias = null)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0];
        var (oh, ow) = g.OutputSize(x.shape[2], x.shape[3]);
        long chunk = Math.Max(1, ChunkElements / (w.Cols * oh * ow));
        var outputs = new List<Tensor>();
        for (long i = 0; i < b; i += chunk)
        {
            long n = Math.Min(chunk, b - i);
            var cols = Im2Col(x.narrow(0, i, n), g);                   // [n, C*kh*kw, OH*OW]
            outputs.Add(Gemm(w, cols, bias).reshape(n, w.Rows, oh, ow));
        }
        return (outputs.Count == 1 ? outputs[0] : cat(outputs, 0)).MoveToOuterDisposeScope();
    }

    /// <summary>im2col in PyTorch's unfold order: row c*kh*kw + r*kw + s, column oh*OW + ow.</summary>
    public static Tensor Im2Col(Tensor x, ConvGeometry g)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], c = x.shape[1];
        var (oh, ow) = g.OutputSize(x.shape[2], x.shape[3]);
        var xp = nn.functional.pad(x, new long[] { g.PadW, g.PadW, g.PadH, g.PadH });
        var taps = new List<Tensor>();
        for (int r = 0; r < g.KernelH; r++)
            for (int s = 0; s < g.KernelW; s++)
            {
                long h0 = r * g.DilationH, w0 = s * g.DilationW;
                taps.Add(xp[TensorIndex.Colon, TensorIndex.Colon,
                    TensorIndex.Slice(h0, h0 + (oh - 1L) * g.StrideH + 1, g.StrideH),
                    TensorIndex.Slice(w0, w0 + (ow - 1L) * g.StrideW + 1, g.StrideW)]);
            }
        var cols = stack(taps, 2);                                     // [B, C, kh*kw, OH, OW]
        return cols.reshape(b, c * g.KernelH * g.KernelW, (long)oh * ow).MoveToOuterDisposeScope();
    }
}
