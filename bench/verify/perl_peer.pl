#!/usr/bin/perl
# bench/verify/perl_peer.pl MODE CORPUS_DIR DNS_JSON [SECONDS] - the full-verification peers in Perl,
# one process, everything in memory, fake DNS (no resolver, no network).
#   MODE full:  per message, as herald's bench_verify: the From domain (Email::Address-free regex,
#               as the peers give no parser of their own), Mail::SPF (Mail::SPF::Server->process,
#               a fake dns_resolver), Mail::DKIM::Verifier, Mail::DKIM::ARC::Verifier, Mail::DMARC::
#               PurePerl->validate (a fake resolver via set_resolver), and the Authentication-Results
#               text (Mail::DKIM's signature->result_detail and the others' results, formatted).
#   MODE dkim:  Mail::DKIM::Verifier alone (the DKIM-only rate of the same corpus).
#   MODE dmarc: Mail::DMARC::PurePerl->validate alone, given the SPF and DKIM results (DKIM pass
#               d=example.org, SPF pass for the MAIL FROM domain): its per-message cost, to add to a
#               DMARC-less stack (dkimpy + pyspf).
# Facts (IP, HELO, MAIL FROM) from CORPUS_DIR/facts.txt. Whole passes over the corpus until
# SECONDS (default 2) have gone by; prints "perl MODE: N msgs in T s = R msg/s" and the verdict counts.
use strict; use warnings;
use JSON::PP; use Time::HiRes qw(time); use Net::DNS;
use Mail::DKIM::Verifier; use Mail::DKIM::ARC::Verifier; use Mail::SPF; use Mail::DMARC::PurePerl;

my ($mode, $dir, $dnsjson, $secs) = @ARGV;
$secs ||= 2;
my $Z = do { local $/; open(my $fh, '<', $dnsjson) or die "$dnsjson: $!"; decode_json(<$fh>) };

sub rrs {   # Net::DNS::RR list for name/type from the fake zone
  my ($name, $type) = @_;
  my $n = lc $name; $n =~ s/\.$//;
  my $t = $Z->{$n} or return undef;
  my @out;
  for my $v (@{ $t->{uc $type} || [] }) {
    if (uc $type eq 'TXT') { push @out, Net::DNS::RR->new(name => $n, type => 'TXT', ttl => 300, txtdata => [ $v =~ /(.{1,255})/gs ]) }
    elsif (uc $type eq 'MX') { push @out, Net::DNS::RR->new(name => $n, type => 'MX', ttl => 300, preference => $v->[0], exchange => $v->[1]) }
    else { push @out, Net::DNS::RR->new("$n 300 IN $type $v") }
  }
  return \@out;
}

package FakeResolver {
  sub new { bless { err => '' }, shift }
  sub send {
    my ($self, $name, $type) = @_;
    $type ||= 'A';
    my $p = Net::DNS::Packet->new($name, $type, 'IN');
    $p->header->qr(1); $p->header->aa(1);
    my $r = main::rrs($name, $type);
    if (!defined $r) { $p->header->rcode('NXDOMAIN'); $self->{err} = 'NXDOMAIN'; }
    else { $p->push(answer => @$r); $self->{err} = @$r ? 'NOERROR' : 'NOERROR'; }
    return $p;
  }
  sub query { my $p = $_[0]->send(@_[1 .. $#_]); return $p->header->ancount ? $p : undef; }
  sub search { goto &query }
  sub errorstring { $_[0]{err} }
  sub tcp_timeout {} sub udp_timeout {}
}

{ no warnings 'redefine';   # Mail::DKIM: TXT from the fake zone
  *Mail::DKIM::DNS::query = sub { my ($name, $type) = @_; my $r = rrs($name, $type);
    unless ($r && @$r) { $@ = 'NXDOMAIN'; return (); } $@ = 'NOERROR'; return @$r; };
}

opendir(my $dh, $dir) or die "$dir: $!"; my @f = sort grep { /^msg-.*\.eml$/ } readdir $dh; closedir $dh;
my @m = map { local $/; open(my $fh, '<:raw', "$dir/$_") or die; my $x = <$fh>; $x } @f;
my %facts;
if (open(my $fh, '<', "$dir/facts.txt")) { while (<$fh>) { my @w = split; $facts{$w[0]} = [ @w[1 .. 3] ] if @w == 4 } }
my $res = FakeResolver->new;
my $spf_server = Mail::SPF::Server->new(dns_resolver => $res, hostname => 'mx.bench.test');
my %count;

sub dkim_verify {
  my ($msg) = @_;
  my $v = Mail::DKIM::Verifier->new;
  (my $crlf = $msg) =~ s/(?<!\r)\n/\r\n/g;
  $v->PRINT($crlf); $v->CLOSE;
  return $v;
}

sub one_full {
  my ($i) = @_;
  my $msg = $m[$i];
  my ($ip, $helo, $mf) = @{ $facts{$f[$i]} || [ '192.0.2.25', 'mail.example.org', 'bounce@example.org' ] };
  $mf = '' if $mf eq '-';
  my ($hdr) = split /\r?\n\r?\n/, $msg, 2;
  my ($from) = $hdr =~ /^From:[^\r\n]*?@([A-Za-z0-9.-]+)/mi;
  my $req = Mail::SPF::Request->new(scope => 'mfrom', identity => $mf, ip_address => $ip, helo_identity => $helo);
  my $spf = $spf_server->process($req);
  my $dk = dkim_verify($msg);
  my $arc = Mail::DKIM::ARC::Verifier->new;
  (my $crlf = $msg) =~ s/(?<!\r)\n/\r\n/g;
  $arc->PRINT($crlf); $arc->CLOSE;
  my (@dkim, $spfdom);
  for my $s ($dk->signatures) { push @dkim, { domain => $s->domain, selector => $s->selector, result => $s->result } }
  ($spfdom = $mf) =~ s/.*@//;
  my $dmarc = Mail::DMARC::PurePerl->new;
  $dmarc->set_resolver($res);
  $dmarc->source_ip($ip); $dmarc->envelope_to('example.net'); $dmarc->envelope_from($spfdom);
  $dmarc->header_from($from); $dmarc->dkim(\@dkim);
  $dmarc->spf(domain => $spfdom, scope => 'mfrom', result => $spf->code);
  my $dr = $dmarc->validate;
  my $ar = "Authentication-Results: mx.bench.test;\r\n\tspf=" . $spf->code . " smtp.mailfrom=$mf";
  $ar .= ";\r\n\tdkim=" . $_->result_detail . " header.d=" . $_->domain . " header.s=" . $_->selector for $dk->signatures;
  $ar .= ";\r\n\tdmarc=" . $dr->result . " header.from=$from";
  $ar .= ";\r\n\tarc=" . $arc->result if $arc->result ne 'none';
  $count{"spf=" . $spf->code}++; $count{"dkim=" . $dk->result}++; $count{"arc=" . $arc->result}++;
  $count{"dmarc=" . $dr->result}++;
}

sub one_dkim { my $v = dkim_verify($m[$_[0]]); $count{"dkim=" . $v->result}++ }

sub one_dmarc {
  my ($i) = @_;
  my ($ip, $helo, $mf) = @{ $facts{$f[$i]} || [ '192.0.2.25', 'mail.example.org', 'bounce@example.org' ] };
  (my $spfdom = $mf) =~ s/.*@//;
  my $dmarc = Mail::DMARC::PurePerl->new;
  $dmarc->set_resolver($res);
  $dmarc->source_ip($ip); $dmarc->envelope_to('example.net'); $dmarc->envelope_from($spfdom);
  $dmarc->header_from('example.org');
  $dmarc->dkim([ { domain => 'example.org', selector => 'rsa2048', result => 'pass' } ]);
  $dmarc->spf(domain => $spfdom, scope => 'mfrom', result => 'pass');
  $count{"dmarc=" . $dmarc->validate->result}++;
}

my $fn = { full => \&one_full, dkim => \&one_dkim, dmarc => \&one_dmarc }->{$mode} or die "mode full|dkim|dmarc\n";
$fn->($_) for 0 .. $#m;   # warm-up pass (module loading, first calls)
%count = ();
my ($n, $t0) = (0, time); my $t1;
do { $fn->($_) for 0 .. $#m; $n += @m; $t1 = time; } while ($t1 - $t0 < $secs);
my $passes = $n / @m;
printf "perl %s: %d msgs in %.3f s = %.1f msg/s (verdicts per pass: %s)\n", $mode, $n, $t1 - $t0, $n / ($t1 - $t0),
  join(', ', map { "$_ " . $count{$_} / $passes } sort keys %count);
