using Microsoft.Extensions.Configuration;

namespace Bcbp.Training.Config;

/// <summary>
/// Reads an experiment from JSON or YAML through Microsoft.Extensions.Configuration, applies <c>--set</c>
/// overrides, binds it to <see cref="ExperimentConfig"/> and validates it. Every problem (unknown key, wrong type,
/// out-of-range value) is reported at once in a <see cref="ConfigException"/>, each with its key path.
/// </summary>
public static class ConfigLoader
{
    /// <summary><paramref name="pathOrName"/> is a path, or a name found in the working directory or a configs/
    /// folder (see <see cref="PathResolver"/>).</summary>
    public static ExperimentConfig Load(string pathOrName, IEnumerable<string>? overrides = null)
        => Load(pathOrName, overrides, Directory.GetCurrentDirectory());

    /// <summary>As <see cref="Load(string, IEnumerable{string}?)"/>, resolving names from <paramref name="baseDirectory"/>.</summary>
    public static ExperimentConfig Load(string pathOrName, IEnumerable<string>? overrides, string baseDirectory)
    {
        var path = PathResolver.Config(pathOrName, baseDirectory);
        var builder = new ConfigurationBuilder();
        var ext = Path.GetExtension(path).ToLowerInvariant();
        switch (ext)
        {
            case ".json": builder.AddJsonFile(path, optional: false, reloadOnChange: false); break;
            case ".yaml" or ".yml": builder.Add(YamlConfigurationSource.ForFile(path)); break;
            default:
                throw new ArgumentException($"config '{path}': unknown extension '{ext}'; use .json, .yaml or .yml");
        }
        IConfigurationRoot file;
        try { file = builder.Build(); }
        catch (InvalidDataException e) // the providers wrap parse errors (JSON, YAML, duplicate keys) in this
        {
            throw new InvalidDataException($"config '{path}' is not valid {(ext == ".json" ? "JSON" : "YAML")}: {SyntaxError(e)}", e);
        }
        return FromConfiguration(file, overrides, $"'{path}'");
    }

    /// <summary>The innermost parse error with its line and column (1-based), which the providers' wrappers drop.</summary>
    static string SyntaxError(Exception e)
    {
        for (var inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is System.Text.Json.JsonException { LineNumber: { } line } json)
                return $"line {line + 1}, column {(json.BytePositionInLine ?? 0) + 1}: {json.Message.Split(" Path:")[0].Split(" LineNumber:")[0]}";
            if (inner is YamlDotNet.Core.YamlException yaml)
                return $"line {yaml.Start.Line}, column {yaml.Start.Column}: {yaml.Message.Split("): ")[^1]}";
        }
        var innermost = e;
        while (innermost.InnerException is not null) innermost = innermost.InnerException;
        return innermost.Message;
    }

    /// <summary>Applies overrides to an already-read configuration, then binds and validates it.
    /// <paramref name="source"/> names it in error messages.</summary>
    public static ExperimentConfig FromConfiguration(IConfiguration configuration, IEnumerable<string>? overrides, string source)
    {
        var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var kv in configuration.AsEnumerable()) data[kv.Key] = kv.Value;
        ConfigOverrides.Apply(data, overrides ?? Array.Empty<string>());
        var merged = new ConfigurationBuilder().AddInMemoryCollection(data).Build();

        var errors = new ConfigErrors();
        var config = ConfigBinder.Bind<ExperimentConfig>(merged, errors);
        config.Validate("", errors); // also after type errors: a key that failed to bind keeps its valid default
        if (errors.Any) throw new ConfigException(source, errors.Messages);
        return config;
    }
}
