using System.CommandLine;
using Bcbp.Training.Config;

namespace Bcbp.Training.Cli;

/// <summary><c>bcbp help [COMMAND]</c>: the same text as <c>bcbp COMMAND --help</c>.</summary>
static class HelpCommand
{
    public static Command Build(RootCommand root)
    {
        var name = new Argument<string?>("COMMAND") { Description = "the command to describe", Arity = ArgumentArity.ZeroOrOne, HelpName = "COMMAND" };
        name.CompletionSources.Add(_ => root.Subcommands.Select(c => new System.CommandLine.Completions.CompletionItem(c.Name)));
        var command = new Command("help", "print the options of COMMAND (bcbp help train), or the list of commands") { name };
        command.SetAction(p =>
        {
            string? word = p.GetValue(name);
            if (word is not null && root.Subcommands.All(c => c.Name != word))
                throw new ArgumentException($"unknown command '{word}'" +
                    (KeySuggester.Closest(word, root.Subcommands.Select(c => c.Name)) is { } best ? $"; did you mean '{best}'?" : "") +
                    $"; commands: {string.Join(", ", root.Subcommands.Select(c => c.Name))}");
            return root.Parse(word is null ? new[] { "--help" } : new[] { word, "--help" }).Invoke(p.InvocationConfiguration);
        });
        return command;
    }
}
