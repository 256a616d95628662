using System.CommandLine;
using System.CommandLine.Parsing;
using Bcbp.Training.Config;

namespace Bcbp.Training.Cli;

/// <summary>Writes System.CommandLine's parse errors as <c>error:</c> lines on stderr, with "did you mean" for a
/// mistyped command or option, and where to find the command's options.</summary>
static class ParseErrors
{
    public static void Write(ParseResult parse, TextWriter error)
    {
        var command = parse.CommandResult.Command;
        string where = CommandPath(command);
        var unmatched = parse.UnmatchedTokens.ToList();
        var lines = new List<string>();
        for (int i = 0; i < unmatched.Count; i++)
        {
            string token = unmatched[i];
            if (token.StartsWith('-'))
            {
                var names = OptionNames(command).ToList();
                lines.Add($"unknown option '{token}' for '{where}'" + Suggest(token.Split('=')[0], names));
                // The word after an unknown option is most likely its value, not a second mistake.
                if (i + 1 < unmatched.Count && !unmatched[i + 1].StartsWith('-')) i++;
            }
            else if (command is RootCommand)
                lines.Add($"unknown command '{token}'" + Suggest(token, command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name)));
            else
                lines.Add($"unexpected argument '{token}' for '{where}' (it takes no positional words; options start with --)");
        }
        foreach (var e in parse.Errors)
            if (!unmatched.Any(t => e.Message.Contains($"'{t}'", StringComparison.Ordinal))) lines.Add(e.Message);
        foreach (var line in lines.Distinct()) error.WriteLine($"error: {line}");
        error.WriteLine($"see '{where} --help'");
    }

    static string Suggest(string word, IEnumerable<string> candidates) =>
        KeySuggester.Closest(word, candidates) is { } best ? $"; did you mean '{best}'?" : "";

    static IEnumerable<string> OptionNames(Command command)
    {
        foreach (var o in command.Options) yield return o.Name;
        foreach (var parent in Ancestors(command))
            foreach (var o in parent.Options.Where(o => o.Recursive)) yield return o.Name;
    }

    static IEnumerable<Command> Ancestors(Command command)
    {
        for (var p = command.Parents.OfType<Command>().FirstOrDefault(); p is not null; p = p.Parents.OfType<Command>().FirstOrDefault())
            yield return p;
    }

    static string CommandPath(Command command) =>
        string.Join(' ', Ancestors(command).Reverse().Select(c => c is RootCommand ? "bcbp" : c.Name)
            .Append(command is RootCommand ? "bcbp" : command.Name));
}
