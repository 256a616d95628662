using System.Text.Json;
using System.Text.Json.Nodes;
using Bcbp.Training.Json;

namespace Bcbp.Training.Suites;

/// <summary>Reads and checks a suite file (JSON or YAML). Every problem is reported at once, each with its key.</summary>
public static class SuiteLoader
{
    static readonly string[] Keys =
        { "name", "description", "base", "dense", "finetune", "grid", "method_overrides", "output_dir", "results_dir", "bench", "next" };
    static readonly string[] GridKeys = { "models", "datasets", "methods", "sparsities", "tile_rows", "seeds" };

    /// <summary>Loads <paramref name="path"/>. A string <c>base</c> is a config file path, resolved against the working
    /// directory and then the suite's folder.</summary>
    public static SuiteDefinition Load(string path)
    {
        var root = JsonFile.ReadObject(path);
        return Parse(root, Path.GetDirectoryName(Path.GetFullPath(path))!, $"suite '{path}'");
    }

    /// <summary>Builds a suite from its JSON tree; <paramref name="source"/> names it in errors.</summary>
    public static SuiteDefinition Parse(JsonObject root, string suiteDir, string source)
    {
        var errors = new List<string>();
        foreach (var (key, _) in root)
            if (!Keys.Contains(key)) errors.Add($"{key}: unknown key; expected one of {string.Join(", ", Keys)}");

        string name = ReadString(root, "name", errors) ?? "";
        if (name.Length == 0 || name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0)
            errors.Add($"name: must be a non-empty file name (it names the run folder), got '{name}'");

        var baseConfig = ReadBase(root["base"], suiteDir, errors);
        var grid = root["grid"] as JsonObject;
        if (grid is null) errors.Add("grid: required object with models, datasets, methods and sparsities");
        else
            foreach (var (key, _) in grid)
                if (!GridKeys.Contains(key)) errors.Add($"grid.{key}: unknown key; expected one of {string.Join(", ", GridKeys)}");

        var models = ReadAxis(grid, "models", "model.arch", errors);
        var datasets = ReadAxis(grid, "datasets", "data.dataset", errors);
        var methods = ReadList(grid, "grid.", "methods", errors, n => n.GetValue<string>(), "a method name");
        var sparsities = ReadList(grid, "grid.", "sparsities", errors, n => n.GetValue<double>(), "a number");
        var tileRows = grid?["tile_rows"] is null ? new List<int>() : ReadList(grid, "grid.", "tile_rows", errors, n => n.GetValue<int>(), "an integer");
        var seeds = grid?["seeds"] is null ? new List<int>() : ReadList(grid, "grid.", "seeds", errors, n => n.GetValue<int>(), "an integer");
        for (int i = 0; i < sparsities.Count; i++)
            if (sparsities[i] is < 0 or >= 1) errors.Add($"grid.sparsities[{i}]: {sparsities[i]} is outside [0, 1)");
        for (int i = 0; i < tileRows.Count; i++)
            if (tileRows[i] < 1) errors.Add($"grid.tile_rows[{i}]: must be at least 1, got {tileRows[i]}");
        for (int i = 0; i < methods.Count; i++)
            if (methods[i] is "dense" or "") errors.Add($"grid.methods[{i}]: '{methods[i]}' is not a pruning method (the dense cell is implied)");
        Duplicates(models.Select(m => m.Name), "grid.models", errors);
        Duplicates(datasets.Select(d => d.Name), "grid.datasets", errors);
        Duplicates(methods, "grid.methods", errors);
        Duplicates(sparsities.Select(s => s.ToString("R")), "grid.sparsities", errors);
        Duplicates(seeds.Select(s => s.ToString()), "grid.seeds", errors);

        var overrides = new Dictionary<string, JsonObject>();
        if (root["method_overrides"] is JsonObject mo)
            foreach (var (method, value) in mo)
            {
                if (value is JsonObject o) overrides[method] = o;
                else errors.Add($"method_overrides.{method}: expected an object of config keys");
                if (!methods.Contains(method)) errors.Add($"method_overrides.{method}: '{method}' is not in grid.methods");
            }
        else if (root["method_overrides"] is not null) errors.Add("method_overrides: expected an object (method -> config keys)");

        var bench = root["bench"] is null ? new List<string>() : ReadList(root, "", "bench", errors, n => n.GetValue<string>(), "a file path");
        var dense = ReadObjectOrEmpty(root, "dense", errors);
        var finetune = ReadObjectOrEmpty(root, "finetune", errors);

        var next = ReadString(root, "next", errors) ?? "";
        if (errors.Count > 0)
            throw new InvalidDataException($"{source} has {errors.Count} problem(s):\n  " + string.Join("\n  ", errors));
        return new SuiteDefinition
        {
            Name = name,
            Description = root["description"]?.GetValue<string>() ?? "",
            Base = baseConfig!,
            Dense = dense,
            Finetune = finetune,
            Grid = new SuiteGrid { Models = models, Datasets = datasets, Methods = methods, Sparsities = sparsities, TileRows = tileRows, Seeds = seeds },
            MethodOverrides = overrides,
            OutputDir = ReadString(root, "output_dir", errors) ?? Path.Combine("runs", name),
            ResultsDir = ReadString(root, "results_dir", errors) ?? Path.Combine("experiments", "results", name),
            Bench = bench,
            Next = next,
        };
    }

    static JsonObject? ReadBase(JsonNode? node, string suiteDir, List<string> errors)
    {
        switch (node)
        {
            case JsonObject o: return o;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                var path = v.GetValue<string>();
                var found = new[] { path, Path.Combine(suiteDir, path) }.FirstOrDefault(File.Exists);
                if (found is null)
                {
                    errors.Add($"base: config file '{path}' not found in the working directory or next to the suite");
                    return null;
                }
                return JsonFile.ReadObject(found);
            default:
                errors.Add("base: required; an experiment config object or the path of a config file");
                return null;
        }
    }

    static List<GridValue> ReadAxis(JsonObject? grid, string key, string stringMeans, List<string> errors)
    {
        var result = new List<GridValue>();
        if (grid?[key] is not JsonArray { Count: > 0 } array)
        {
            if (grid is not null) errors.Add($"grid.{key}: required non-empty list");
            return result;
        }
        for (int i = 0; i < array.Count; i++)
        {
            var item = array[i];
            if (item is JsonValue v && v.GetValueKind() == JsonValueKind.String)
            {
                var config = new JsonObject();
                JsonTree.Set(config, stringMeans, v.GetValue<string>());
                result.Add(new GridValue(v.GetValue<string>(), config));
            }
            else if (item is JsonObject o && o["name"] is JsonValue n && n.GetValueKind() == JsonValueKind.String
                     && (o["config"] is JsonObject || o["config"] is null))
            {
                foreach (var (k, _) in o)
                    if (k is not ("name" or "config")) errors.Add($"grid.{key}[{i}].{k}: unknown key; expected name and config");
                result.Add(new GridValue(n.GetValue<string>(), (JsonObject?)o["config"]?.DeepClone() ?? new JsonObject()));
            }
            else errors.Add($"grid.{key}[{i}]: expected a string ({stringMeans}) or {{ \"name\": ..., \"config\": {{ ... }} }}");
        }
        return result;
    }

    static List<T> ReadList<T>(JsonObject? parent, string prefix, string key, List<string> errors, Func<JsonNode, T> read, string what)
    {
        var result = new List<T>();
        prefix += key;
        if (parent?[key] is not JsonArray { Count: > 0 } array)
        {
            if (parent is not null) errors.Add($"{prefix}: required non-empty list");
            return result;
        }
        for (int i = 0; i < array.Count; i++)
        {
            try { result.Add(read(array[i]!)); }
            catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException)
            {
                errors.Add($"{prefix}[{i}]: expected {what}, got {array[i]?.ToJsonString() ?? "null"}");
            }
        }
        return result;
    }

    static string? ReadString(JsonObject root, string key, List<string> errors)
    {
        var node = root[key];
        if (node is null) return null;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.String) return v.GetValue<string>();
        errors.Add($"{key}: expected a string, got {node.ToJsonString()}");
        return null;
    }

    static JsonObject ReadObjectOrEmpty(JsonObject root, string key, List<string> errors)
    {
        var node = root[key];
        if (node is null) return new JsonObject();
        if (node is JsonObject o) return o;
        errors.Add($"{key}: expected an object of config keys, got {node.ToJsonString()}");
        return new JsonObject();
    }

    static void Duplicates(IEnumerable<string> names, string key, List<string> errors)
    {
        foreach (var g in names.GroupBy(n => n).Where(g => g.Count() > 1))
            errors.Add($"{key}: '{g.Key}' appears {g.Count()} times");
    }
}
