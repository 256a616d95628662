using Bcbp.Models.IO;
using System.Text.Json;
using System.Text.Json.Serialization;
using Bcbp.Training.Runner;

namespace Bcbp.Training.Experiments;

/// <summary>Reads and writes <c>results.json</c> (a <see cref="RunResult"/>, snake_case keys) and the suite's own
/// small JSON files with the same conventions.</summary>
public static class RunResultJson
{
    public const string FileName = "results.json";

    /// <summary>snake_case keys, indented, enums as strings; reading ignores key case.</summary>
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        PropertyNameCaseInsensitive = true,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public static RunResult Read(string path) => ReadAs<RunResult>(path);

    public static void Write(string path, RunResult result) => WriteAs(path, result);

    /// <summary>Deserializes <paramref name="path"/>, naming the file when it is missing or malformed.</summary>
    public static T ReadAs<T>(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"file not found: '{path}'", path);
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllText(path), Options)
                   ?? throw new InvalidDataException($"'{path}' holds null, expected a {typeof(T).Name} object");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' is not a valid {typeof(T).Name} JSON file: {e.Message}", e);
        }
    }

    public static void WriteAs<T>(string path, T value) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(value, Options));
}
