# NotaryTest -- what every pg_notary TAP test starts with.
#
# notary_node(NAME, CONF) makes, configures and starts a cluster for one
# test: autovacuum off, statement_timeout 60s, plus CONF, and its address
# space capped (cap_memory), so that a runaway statement fails its test
# with "out of memory" instead of exhausting the machine.
package NotaryTest;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(notary_node cap_memory);

# Cap the server's address space (every backend forked later inherits it);
# call again after each restart.
sub cap_memory
{
	my ($node) = @_;
	my ($pid) = split /\n/, slurp_file($node->data_dir . '/postmaster.pid');
	system('prlimit', "--pid=$pid", '--as=3000000000') == 0
	  or note('prlimit failed; server memory not capped');
	return;
}

sub notary_node
{
	my ($name, $conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf',
		"autovacuum = off\nstatement_timeout = '60s'\n" . ($conf // ''));
	$node->start;
	cap_memory($node);
	return $node;
}

1;
