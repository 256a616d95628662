using Microsoft.Extensions.Configuration;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Bcbp.Training.Config;

/// <summary>
/// A YAML file as a Microsoft.Extensions.Configuration source, on the YamlDotNet the project pins.
/// (NetEscapades.Configuration.Yaml 2.0.0 is compiled against YamlDotNet 6 and fails with MissingMethodException on
/// YamlDotNet 12+.) Keys flatten as the JSON provider does: sections joined by ':', list items by index; null and
/// empty values become "", like the JSON provider's null.
/// </summary>
public sealed class YamlConfigurationSource : FileConfigurationSource
{
    /// <summary>A source reading the file at the absolute <paramref name="path"/>.</summary>
    public static YamlConfigurationSource ForFile(string path)
    {
        var source = new YamlConfigurationSource { Path = path, Optional = false, ReloadOnChange = false };
        source.ResolveFileProvider();
        return source;
    }

    /// <inheritdoc/>
    public override IConfigurationProvider Build(IConfigurationBuilder builder)
    {
        EnsureDefaults(builder);
        return new Provider(this);
    }

    sealed class Provider(YamlConfigurationSource source) : FileConfigurationProvider(source)
    {
        public override void Load(Stream stream) => Data = Flatten(stream);
    }

    /// <summary>The YAML document as flat configuration keys ("train:epochs" -> "3", "prune:exclude:0" -> "conv1").</summary>
    public static Dictionary<string, string?> Flatten(Stream stream)
    {
        var yaml = new YamlStream();
        using (var reader = new StreamReader(stream))
        {
            var parser = new Parser(reader);
            try { yaml.Load(parser); }
            catch (InvalidOperationException) // YamlDotNet's own state error on some unclosed flow collections: no position
            {
                var at = parser.Current?.End;
                throw new YamlException(at ?? Mark.Empty, at ?? Mark.Empty,
                    "unclosed '[' or '{' (or another syntax error) after this point");
            }
        }
        var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        if (yaml.Documents.Count == 0) return data;
        if (yaml.Documents[0].RootNode is not YamlMappingNode root)
            throw new FormatException("the top level of a config must be a mapping of keys (name: ..., train: ...)");
        Visit(root, "", data);
        return data;
    }

    static void Visit(YamlNode node, string key, Dictionary<string, string?> data)
    {
        switch (node)
        {
            case YamlMappingNode map:
                if (map.Children.Count == 0 && key.Length > 0) data[key] = null;
                foreach (var (k, v) in map.Children)
                {
                    var name = ((YamlScalarNode)k).Value ?? "";
                    var child = key.Length == 0 ? name : $"{key}:{name}";
                    Visit(v, child, data);
                }
                break;
            case YamlSequenceNode seq:
                if (seq.Children.Count == 0) data[key] = "";
                for (int i = 0; i < seq.Children.Count; i++) Visit(seq.Children[i], $"{key}:{i}", data);
                break;
            case YamlScalarNode scalar:
                data[key] = IsNull(scalar) ? null : scalar.Value ?? "";
                break;
            default:
                throw new FormatException($"unsupported YAML node at '{key.Replace(':', '.')}' (line {node.Start.Line})");
        }
    }

    /// <summary>YAML 1.1 nulls: an empty plain scalar, ~, null, Null, NULL (a quoted "null" is a string).</summary>
    static bool IsNull(YamlScalarNode s) =>
        s.Style is ScalarStyle.Plain or ScalarStyle.Any && s.Value is null or "" or "~" or "null" or "Null" or "NULL";
}
