using System.Text.Json;
using System.Text.Json.Nodes;

namespace Bcbp.Training.Reports;

/// <summary>
/// Sparse inference speedups read from kernel benchmark JSON files (<c>bcbp bench --json</c>). An entry is any object
/// in the file (top level, or in a <c>results</c> array) with <c>method</c>, <c>sparsity</c> and either
/// <c>speedup</c> or both <c>dense_ms</c> and <c>sparse_ms</c>; optional <c>model</c> restricts it to that model
/// and optional <c>layer</c> marks a single-layer measurement. For a model, method and sparsity, a whole-model entry
/// wins; else the geometric mean of the layer entries is used. A file of PyTorch's dense baselines
/// (experiments/bench/pytorch_baselines.py: an object with <c>rows</c> of <c>model</c>, <c>batch</c>, <c>variant</c>,
/// <c>img_s</c>) gives <see cref="Baselines"/> instead: the best dense model a user would run, to measure a pruned
/// run's own sparse speed against (<see cref="BestDense"/>).
/// </summary>
public sealed class SpeedupTable
{
    public sealed record Entry(string? Model, string Method, double Sparsity, string? Layer, double Speedup);

    /// <summary>One dense PyTorch measurement: images/s of <see cref="Variant"/> (eager, cuda_graph, compile, ...).</summary>
    public sealed record Baseline(string Model, int Batch, string Variant, double ImagesPerSecond);

    public IReadOnlyList<Entry> Entries { get; }
    public IReadOnlyList<Baseline> Baselines { get; }

    public SpeedupTable(IEnumerable<Entry> entries, IEnumerable<Baseline>? baselines = null)
    {
        Entries = entries.ToList();
        Baselines = (baselines ?? Array.Empty<Baseline>()).ToList();
    }

    public static SpeedupTable Empty { get; } = new(Array.Empty<Entry>());

    /// <summary>The fastest dense baseline of <paramref name="model"/> at <paramref name="batch"/>, or null.</summary>
    public Baseline? BestDense(string model, int batch)
        => Baselines.Where(b => b.Model == model && b.Batch == batch).MaxBy(b => b.ImagesPerSecond);

    public static SpeedupTable Load(IEnumerable<string> paths)
    {
        var entries = new List<Entry>();
        var baselines = new List<Baseline>();
        foreach (var path in paths)
        {
            if (!File.Exists(path))
                throw new FileNotFoundException($"kernel benchmark file '{path}' (suite key 'bench' or --bench) not found; run bcbp bench --json {path} or drop it from the list", path);
            JsonNode? root;
            try { root = JsonNode.Parse(File.ReadAllText(path)); }
            catch (JsonException e) { throw new InvalidDataException($"kernel benchmark file '{path}' is not valid JSON: {e.Message}", e); }
            if (root is JsonObject { } withRows && withRows["rows"] is JsonArray rows && rows.OfType<JsonObject>().Any(r => r["variant"] is not null))
            {
                baselines.AddRange(rows.OfType<JsonObject>().Select(r => ParseBaseline(r, path)));
                continue;
            }
            var items = root switch
            {
                JsonArray a => a,
                JsonObject o when o["results"] is JsonArray r => r,
                _ => throw new InvalidDataException($"kernel benchmark file '{path}': expected an array of entries or an object with a 'results' array"),
            };
            foreach (var item in items.OfType<JsonObject>()) entries.Add(Parse(item, path));
        }
        return new SpeedupTable(entries, baselines);
    }

    static Baseline ParseBaseline(JsonObject o, string path)
    {
        string Where() => $"baseline file '{path}', row {o.ToJsonString()}";
        return new Baseline(
            o["model"]?.GetValue<string>() ?? throw new InvalidDataException($"{Where()}: missing 'model'"),
            o["batch"]?.GetValue<int>() ?? throw new InvalidDataException($"{Where()}: missing 'batch'"),
            o["variant"]?.GetValue<string>() ?? throw new InvalidDataException($"{Where()}: missing 'variant'"),
            o["img_s"]?.GetValue<double>() ?? throw new InvalidDataException($"{Where()}: missing 'img_s'"));
    }

    static Entry Parse(JsonObject o, string path)
    {
        string Where() => $"kernel benchmark file '{path}', entry {o.ToJsonString()}";
        var method = o["method"]?.GetValue<string>() ?? throw new InvalidDataException($"{Where()}: missing 'method'");
        var sparsity = o["sparsity"]?.GetValue<double>() ?? throw new InvalidDataException($"{Where()}: missing 'sparsity'");
        double speedup = o["speedup"]?.GetValue<double>()
                         ?? (o["dense_ms"] is { } d && o["sparse_ms"] is { } s ? d.GetValue<double>() / s.GetValue<double>()
                             : throw new InvalidDataException($"{Where()}: needs 'speedup' or 'dense_ms' and 'sparse_ms'"));
        return new Entry(o["model"]?.GetValue<string>(), method, sparsity, o["layer"]?.GetValue<string>(), speedup);
    }

    /// <summary>The speedup for <paramref name="model"/> pruned by <paramref name="method"/> at
    /// <paramref name="sparsity"/>, or null when not measured.</summary>
    public double? Find(string model, string method, double sparsity)
    {
        var matches = Entries.Where(e => e.Method == method && Math.Abs(e.Sparsity - sparsity) < 1e-6
                                          && (e.Model is null || e.Model == model)).ToList();
        if (matches.Count == 0) return null;
        var whole = matches.FirstOrDefault(e => e.Layer is null);
        if (whole is not null) return whole.Speedup;
        return Math.Exp(matches.Average(e => Math.Log(e.Speedup)));
    }
}
