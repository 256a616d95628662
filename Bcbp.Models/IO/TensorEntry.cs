using static TorchSharp.torch;

namespace Bcbp.Models.IO;

/// <summary>A tensor of a weights file as its header or pickle declares it, before any of its data is read: enough to
/// check names and shapes against a model first.</summary>
public sealed record TensorEntry(string Name, ScalarType DType, long[] Shape);

/// <summary>How a weights reader reads one file.</summary>
public sealed record WeightReadOptions
{
    /// <summary>The allocation budget; null: <see cref="ReadBudget.ForFile"/> of the file's size.</summary>
    public ReadBudget? Budget { get; init; }
    /// <summary>Called with every entry once the header (or pickle) is parsed and before any tensor data is read;
    /// throw to refuse the file (for example names or shapes that do not fit the model).</summary>
    public Action<IReadOnlyList<TensorEntry>>? CheckEntries { get; init; }
}
