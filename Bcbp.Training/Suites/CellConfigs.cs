using System.Text;
using Microsoft.Extensions.Configuration;
using Bcbp.Training.Config;
using Bcbp.Training.Json;

namespace Bcbp.Training.Suites;

/// <summary>Binds and validates the composed configs of suite cells through <see cref="ConfigLoader"/>, so a bad key
/// in a suite fails before any cell runs rather than hours in.</summary>
public static class CellConfigs
{
    /// <summary>Placeholder for <c>model.pretrained</c> of pruning cells while their dense model does not exist yet.</summary>
    const string PendingDenseModel = "pending-dense-run/model.safetensors";

    /// <summary>The typed config of <paramref name="cell"/> with <paramref name="overrides"/> applied.</summary>
    public static ExperimentConfig Bind(SuiteCell cell, IReadOnlyList<string> overrides)
    {
        var json = (System.Text.Json.Nodes.JsonObject)cell.Config.DeepClone();
        if (!cell.IsDense) JsonTree.Set(json, "model.pretrained", PendingDenseModel);
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(json.ToJsonString()));
        var configuration = new ConfigurationBuilder().AddJsonStream(stream).Build();
        return ConfigLoader.FromConfiguration(configuration, cell.OverridesFor(overrides), $"suite cell '{cell.Name}'");
    }

    /// <summary>Checks every cell; throws one error listing each cell's problems.</summary>
    public static void ValidateAll(IEnumerable<SuiteCell> cells, IReadOnlyList<string> overrides)
    {
        var problems = new List<string>();
        foreach (var cell in cells)
        {
            try { Bind(cell, overrides); }
            catch (Exception e) when (e is ArgumentException or InvalidDataException) { problems.Add(e.Message); }
        }
        if (problems.Count > 0)
            throw new InvalidDataException($"{problems.Count} suite cell(s) have invalid configs (nothing was run):\n" + string.Join("\n", problems));
    }
}
