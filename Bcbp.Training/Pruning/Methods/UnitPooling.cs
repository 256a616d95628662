using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Pruning.Methods;

/// <summary>
/// Pure helpers over a grid of rectangular units (<c>unitRows x unitCols</c>) of a matrix [M, K]; units at the
/// bottom and right edges may be partial. Unit scores are size-normalized norms: (sum |w|^p / size)^(1/p), i.e. the
/// mean |w| for L1 and the RMS for L2. For equal-size units this ranks exactly as the plain L1/L2 norm; the
/// normalization only makes partial edge units (and units of different layers in global scope) comparable.
/// </summary>
public static class UnitPooling
{
    /// <summary>Sum of <paramref name="values"/> over each unit: [ceil(M/ur), ceil(K/uc)].</summary>
    public static Tensor SumPerUnit(Tensor values, long unitRows, long unitCols)
    {
        long m = values.shape[0], k = values.shape[1];
        long mu = (m + unitRows - 1) / unitRows, ku = (k + unitCols - 1) / unitCols;
        var padded = nn.functional.pad(values, new long[] { 0, ku * unitCols - k, 0, mu * unitRows - m });
        return padded.reshape(mu, unitRows, ku, unitCols).sum(new long[] { 1, 3 });
    }

    /// <summary>Number of real (non-padding) entries of each unit.</summary>
    public static Tensor Sizes(long m, long k, long unitRows, long unitCols, Device device) =>
        SumPerUnit(torch.ones(m, k, dtype: ScalarType.Float32, device: device), unitRows, unitCols);

    /// <summary>Size-normalized L<paramref name="p"/> norm of each unit of <paramref name="w"/>.</summary>
    public static Tensor Scores(Tensor w, long unitRows, long unitCols, int p)
    {
        var sizes = Sizes(w.shape[0], w.shape[1], unitRows, unitCols, w.device);
        var a = w.detach().abs().to(ScalarType.Float32);
        var sum = SumPerUnit(p == 1 ? a : a.pow(p), unitRows, unitCols) / sizes;
        return p == 1 ? sum : sum.pow(1.0 / p);
    }

    /// <summary>True for units whose every entry is 0 in <paramref name="mask"/> (already pruned).</summary>
    public static Tensor FullyPruned(Tensor mask, long unitRows, long unitCols) =>
        SumPerUnit(mask.to(ScalarType.Float32), unitRows, unitCols).eq(0);

    /// <summary>Unit-level values [Mu, Ku] expanded back to entry level [M, K].</summary>
    public static Tensor Expand(Tensor perUnit, long unitRows, long unitCols, long m, long k) =>
        perUnit.repeat_interleave(unitRows, 0).repeat_interleave(unitCols, 1)
               .slice(0, 0, m, 1).slice(1, 0, k, 1);
}
