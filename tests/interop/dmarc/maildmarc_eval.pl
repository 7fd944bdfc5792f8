#!/usr/bin/perl
# maildmarc_eval.pl - evaluate DMARC cases with Mail::DMARC::PurePerl (Debian's
# libmail-dmarc-perl), in process, with no network.
#
# usage: maildmarc_eval.pl CONFIG_INI [DNS_SERVER] < cases.jsonl > results.jsonl
#
# Each input line is a JSON object:
#   {"id": "...", "from": "a.example.com", "roll": 37,
#    "spf": {"domain": "...", "result": "pass"},
#    "dkim": [{"domain": "...", "result": "pass"}, ...],
#    "records": [{"name": "_dmarc.example.com", "type": "TXT", "data": ["v=DMARC1; ...", ...]},
#                {"name": "example.com", "type": "A", "data": "192.0.2.1"}, ...]}
# Each output line: {"id", "result", "disposition", "discovered" (discover_policy returned a
# policy), "exists" (Mail::DMARC's domain existence test), "record_domain", "policy" (the
# effective p or sp), "org" (get_organizational_domain of the From domain), "error" (a croak
# out of validate), "reasons"}.
#
# DNS: Mail::DMARC asks its resolver (Mail::DMARC::Base::get_resolver, replaced through
# set_resolver) with ->send(NAME, TYPE) for TXT and ->query(NAME, TYPE) for MX/NS/A/AAAA. A case
# with "dns": "unbound" gets a real Net::DNS::Resolver pointed at DNS_SERVER (ADDR@PORT, the
# unbound serving those cases' records); any other case the fake resolver below, which answers
# from the case's records. The pct sample is `int(rand(100)) <
# pct` in Mail::DMARC::PurePerl::validate; CORE::GLOBAL::rand (installed before the module is
# compiled) makes rand there return the case's roll, the same number herald gets as --pct-roll.
use strict;
use warnings;

our $ROLL = 0;
# Only Mail::DMARC::PurePerl's rand is the roll: Net::DNS::Header draws query ids with rand and
# loops until it finds an unused one.
BEGIN {
    *CORE::GLOBAL::rand = sub {
        return (caller)[0] eq 'Mail::DMARC::PurePerl' ? $main::ROLL : CORE::rand(@_ ? $_[0] : 1);
    };
}

use JSON::PP;
use Net::DNS;

my $ini = shift @ARGV or die "usage: $0 CONFIG_INI [DNS_SERVER]\n";
my $dns_server = shift @ARGV;
$ENV{MAIL_DMARC_CONFIG_FILE} = $ini;    # our own config: Debian's PSL file, no report store
require Mail::DMARC::PurePerl;

package FakeResolver {
    sub new { my ($class, $rr) = @_; return bless { rr => $rr }, $class; }
    sub _packet {
        my ($self, $name, $type) = @_;
        my $key = lc $name;
        $key =~ s/\.$//;
        my $pkt = Net::DNS::Packet->new($name, $type, 'IN');
        my $recs = $self->{rr}{$key};
        if (!$recs) { $pkt->header->rcode('NXDOMAIN'); return $pkt; }
        for my $r (@$recs) {
            next if $r->{type} ne $type;
            if ($type eq 'TXT') {
                $pkt->push(answer => Net::DNS::RR->new(name => $key, type => 'TXT', txtdata => [@{ $r->{data} }]));
            } elsif ($type eq 'A') {
                $pkt->push(answer => Net::DNS::RR->new(name => $key, type => 'A', address => $r->{data}));
            }
        }
        return $pkt;
    }
    sub send  { my ($self, $name, $type) = @_; return $self->_packet($name, $type); }
    sub query {    # Net::DNS::Resolver::query: undef when there is no answer
        my ($self, $name, $type) = @_;
        my $pkt = $self->_packet($name, $type);
        return scalar($pkt->answer) ? $pkt : undef;
    }
}

# Record what discover_policy and exists_in_dns decided (validate keeps neither).
our ($DISCOVERED, $EXISTS);
{
    no warnings 'redefine';
    my $dp = \&Mail::DMARC::PurePerl::discover_policy;
    *Mail::DMARC::PurePerl::discover_policy = sub {
        my $p = $dp->(@_);
        $DISCOVERED = $p ? 1 : 0;
        return $p;
    };
    my $ex = \&Mail::DMARC::PurePerl::exists_in_dns;
    *Mail::DMARC::PurePerl::exists_in_dns = sub {
        my $e = $ex->(@_);
        $EXISTS = $e ? 1 : 0;
        return $e;
    };
}

my $json = JSON::PP->new->canonical(1);
my $psl_reported = 0;
while (my $line = <STDIN>) {
    next unless $line =~ /\S/;
    my $c = $json->decode($line);
    my %rr;
    for my $r (@{ $c->{records} }) {
        my $k = lc $r->{name};
        $k =~ s/\.$//;
        push @{ $rr{$k} }, $r;
    }
    local $ROLL = $c->{roll} // 0;
    local ($DISCOVERED, $EXISTS) = (0, undef);
    my @warnings;
    local $SIG{__WARN__} = sub { push @warnings, $_[0] };
    my %out = (id => $c->{id});
    my $d = Mail::DMARC::PurePerl->new;
    if (!$psl_reported) {    # say which Public Suffix List is in use, once
        print STDERR "maildmarc_eval: Mail::DMARC $Mail::DMARC::VERSION, PSL ", $d->find_psl_file, "\n";
        $psl_reported = 1;
    }
    if (($c->{dns} // '') eq 'unbound') {
        my ($addr, $port) = split /@/, ($dns_server // die "unbound case $c->{id} without DNS_SERVER\n");
        $d->set_resolver(Net::DNS::Resolver->new(nameservers => [$addr], port => $port, dnsrch => 0,
                                                 defnames => 0, recurse => 1, retry => 2,
                                                 udp_timeout => 2, tcp_timeout => 2));
    } else {
        $d->set_resolver(FakeResolver->new(\%rr));
    }
    my $ok = eval {
        $d->header_from($c->{from});
        $d->spf(domain => $c->{spf}{domain}, scope => 'mfrom', result => $c->{spf}{result}) if $c->{spf};
        $d->dkim([ map { { domain => $_->{domain}, selector => 's1', result => $_->{result} } } @{ $c->{dkim} || [] } ])
            if @{ $c->{dkim} || [] };
        $d->validate;
        1;
    };
    if (!$ok) {
        my $e = $@ // 'unknown error';
        $e =~ s/ at \S+ line \d+.*//s;
        $out{error} = $e;
    }
    my $r = $d->result;
    $out{result}      = $r->result;
    $out{disposition} = lc($r->disposition // '');
    $out{discovered}  = $DISCOVERED ? JSON::PP::true : JSON::PP::false;
    $out{exists}      = defined $EXISTS ? ($EXISTS ? JSON::PP::true : JSON::PP::false) : undef;
    $out{reasons}     = [ map { join(': ', grep { defined && length } $_->type, $_->comment) } @{ $r->reason || [] } ];
    if ($DISCOVERED) {
        my $pol = $r->published;
        $out{record_domain} = $pol->domain;
        my $eff = $d->is_subdomain && defined $pol->sp ? $pol->sp : $pol->p;
        $out{policy} = lc($eff // '');
    }
    # the From domain as validate saw it (header_from lower-cases it)
    $out{org} = eval { $d->get_organizational_domain($d->header_from) } // '';
    $out{warnings} = scalar @warnings;
    print $json->encode(\%out), "\n";
}
