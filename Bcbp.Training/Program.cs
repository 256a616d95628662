using System.Reflection;
using Bcbp.Training.Cli;

// bcbp [COMMAND] [options]. With no command, "train" runs (so `bcbp --config X` is the main job).
var commands = typeof(ICliCommand).Assembly.GetTypes()
    .Where(t => typeof(ICliCommand).IsAssignableFrom(t) && !t.IsAbstract && !t.IsInterface)
    .Select(t => (ICliCommand)Activator.CreateInstance(t)!)
    .ToDictionary(c => c.Name, StringComparer.Ordinal);

var argv = args.ToList();
string name = argv.Count > 0 && !argv[0].StartsWith("--") ? argv[0] : "train";
if (argv.Count > 0 && !argv[0].StartsWith("--")) argv.RemoveAt(0);

if (argv.Contains("--help") && name == "train" && args.Length <= 1 || name is "help")
{
    Console.WriteLine("bcbp: train, prune and benchmark BCBP sparse models.\n\nusage: bcbp [COMMAND] [--config FILE] [options]\n\ncommands:");
    foreach (var c in commands.Values.OrderBy(c => c.Name)) Console.WriteLine($"  {c.Name,-10} {c.Summary}");
    return 0;
}
if (!commands.TryGetValue(name, out var command))
{
    Console.Error.WriteLine($"error: unknown command '{name}'. Commands: {string.Join(", ", commands.Keys.OrderBy(k => k))}.");
    return ExitCode.InputError;
}
// --verbose (any command): the stack trace of a failure on stderr too.
bool verbose = argv.Remove("--verbose");
return ErrorHandler.Run(() => command.Run(CliArgs.Parse(argv)), verbose);
