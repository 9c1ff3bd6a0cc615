/**
 * Seed data of the demo upstream: Kestrel Analytics, a fictional 14-person B2B analytics company.
 * Every process starts from a fresh copy (`createDemoState`), so one agent session sees consistent state
 * and sessions never see each other's changes.
 */

export type Customer = {
  id: string;
  name: string;
  company: string;
  email: string;
  plan: 'starter' | 'growth' | 'enterprise';
  status: 'active' | 'trial' | 'churned';
  mrr: number;
  country: string;
  since: string;
};

export type Invoice = {
  id: string;
  customer_id: string;
  amount: number;
  currency: 'USD' | 'EUR' | 'GBP';
  issued: string;
  due: string;
  status: 'paid' | 'open' | 'overdue';
};

export type Account = {
  id: string;
  name: string;
  currency: 'USD' | 'EUR' | 'GBP';
  /** Integer cents: balances never drift through floating point. */
  balanceCents: number;
};

export type DemoFile = { content: string; modified: string };

export type DemoState = {
  files: Map<string, DemoFile>;
  customers: Customer[];
  invoices: Invoice[];
  accounts: Map<string, Account>;
  sequence: number;
};

/** Generated from the invoice table on every read, so deleting invoices shows in the file. */
export const INVOICES_CSV_PATH = '/finance/invoices.csv';

export const HANDBOOK = `# Kestrel Analytics employee handbook (excerpt)

## Money
- Payments to vendors go out of the Operating account (ACC-1001); payroll only from ACC-1002.
- Any transfer over 10,000 USD needs the CFO (Dana Okafor) to approve it before it is sent.
- Refunds are issued as a transfer with the invoice number in the memo.

## Customers
- Customer data lives in the CRM; never export it to personal devices.
- Deleting a customer record is permanent; churned customers are kept for 24 months.

## Code
- Every change to \`kestrel/platform\` goes through a pull request against \`main\` with one reviewer.

## Email
- External email about contracts or pricing is copied to sales@kestrel.example.
`;

const Q3_PLAN = `# Q3 plan

Owner: Priya Raman (CEO) · last updated 2025-07-02

## Goals
1. Grow MRR from 48k to 60k USD: close 3 enterprise deals (Orbital Freight, Larchmont Health, Vesta Energy).
2. Ship the anomaly-detection module to all growth-plan customers by 2025-09-15.
3. Cut churn below 2% a month: onboarding calls for every new trial within 48 hours.

## Budget
| area | Q3 budget (USD) |
|---|---|
| Engineering contractors | 42,000 |
| Marketing (events, ads) | 18,500 |
| Cloud infrastructure | 11,200 |

## Risks
- The Larchmont Health deal needs a signed DPA before their security review.
- Two senior engineers on leave in August.
`;

const PRICING = `# Pricing (internal)

| plan | monthly price | seats | notes |
|---|---|---|---|
| starter | 490 USD | 5 | self-serve, email support |
| growth | 1,900 USD | 25 | anomaly detection, SSO |
| enterprise | from 6,500 USD | unlimited | DPA, dedicated support, custom retention |

Discounts above 15% need approval from the CEO.
`;

const ONBOARDING = `# Onboarding checklist

Welcome to Kestrel! In your first week:

- [ ] Get laptop and accounts from IT (it@kestrel.example)
- [ ] Read the handbook (demo://handbook)
- [ ] Shadow two customer onboarding calls
- [ ] Set up the dev environment: \`git clone git@git.kestrel.example:kestrel/platform.git\`
- [ ] Pick a "good first issue" and open a pull request against \`main\`
`;

const MEETING_NOTES = `# Leadership sync, 2025-09-12

Attendees: Priya (CEO), Dana (CFO), Marcus (CTO)

- Orbital Freight signed (enterprise, 7,200 USD/month from October).
- Northwind Labs invoice INV-2025-0139 is 30 days overdue; Dana to send a reminder.
- Vendor payment to Cloudline Hosting (11,040 USD) due 2025-09-20 from Operating.
- Marcus: anomaly-detection release slips one week; PR review backlog in kestrel/platform.
`;

const CUSTOMERS: Customer[] = [
  {
    id: 'CUS-001',
    name: 'Alice Moreau',
    company: 'Northwind Labs',
    email: 'alice.moreau@northwind.example',
    plan: 'growth',
    status: 'active',
    mrr: 1900,
    country: 'FR',
    since: '2024-02-11',
  },
  {
    id: 'CUS-002',
    name: 'Ben Carter',
    company: 'Orbital Freight',
    email: 'ben@orbitalfreight.example',
    plan: 'enterprise',
    status: 'active',
    mrr: 7200,
    country: 'US',
    since: '2025-09-10',
  },
  {
    id: 'CUS-003',
    name: 'Chloe Nguyen',
    company: 'Larchmont Health',
    email: 'cnguyen@larchmont.example',
    plan: 'growth',
    status: 'trial',
    mrr: 0,
    country: 'US',
    since: '2025-08-28',
  },
  {
    id: 'CUS-004',
    name: 'Diego Alvarez',
    company: 'Vesta Energy',
    email: 'diego.alvarez@vesta.example',
    plan: 'enterprise',
    status: 'active',
    mrr: 9800,
    country: 'ES',
    since: '2023-11-03',
  },
  {
    id: 'CUS-005',
    name: 'Emma Schulz',
    company: 'Brightwater Retail',
    email: 'emma.schulz@brightwater.example',
    plan: 'starter',
    status: 'churned',
    mrr: 0,
    country: 'DE',
    since: '2024-05-19',
  },
  {
    id: 'CUS-006',
    name: 'Farid Haddad',
    company: 'Cedar & Stone Legal',
    email: 'farid@cedarstone.example',
    plan: 'starter',
    status: 'active',
    mrr: 490,
    country: 'GB',
    since: '2025-01-07',
  },
  {
    id: 'CUS-007',
    name: 'Grace Kim',
    company: 'Pixel Harbor Games',
    email: 'grace.kim@pixelharbor.example',
    plan: 'growth',
    status: 'active',
    mrr: 1900,
    country: 'KR',
    since: '2024-09-30',
  },
  {
    id: 'CUS-008',
    name: 'Hugo Lindqvist',
    company: 'Fjord Analytics',
    email: 'hugo@fjord.example',
    plan: 'starter',
    status: 'trial',
    mrr: 0,
    country: 'SE',
    since: '2025-09-08',
  },
];

const INVOICES: Invoice[] = [
  { id: 'INV-2025-0131', customer_id: 'CUS-004', amount: 9800, currency: 'EUR', issued: '2025-08-01', due: '2025-08-31', status: 'paid' },
  { id: 'INV-2025-0135', customer_id: 'CUS-007', amount: 1900, currency: 'USD', issued: '2025-08-01', due: '2025-08-31', status: 'paid' },
  {
    id: 'INV-2025-0139',
    customer_id: 'CUS-001',
    amount: 1900,
    currency: 'EUR',
    issued: '2025-08-01',
    due: '2025-08-15',
    status: 'overdue',
  },
  { id: 'INV-2025-0142', customer_id: 'CUS-006', amount: 490, currency: 'GBP', issued: '2025-09-01', due: '2025-09-30', status: 'open' },
  { id: 'INV-2025-0143', customer_id: 'CUS-004', amount: 9800, currency: 'EUR', issued: '2025-09-01', due: '2025-09-30', status: 'open' },
  { id: 'INV-2025-0144', customer_id: 'CUS-002', amount: 7200, currency: 'USD', issued: '2025-09-10', due: '2025-10-10', status: 'open' },
];

const ACCOUNTS: Account[] = [
  { id: 'ACC-1001', name: 'Operating', currency: 'USD', balanceCents: 18_234_055 },
  { id: 'ACC-1002', name: 'Payroll', currency: 'USD', balanceCents: 9_650_000 },
  { id: 'ACC-2001', name: 'EU Operations', currency: 'EUR', balanceCents: 4_187_020 },
  { id: 'ACC-3001', name: 'Reserve', currency: 'USD', balanceCents: 25_000_000 },
];

/** Render the invoice table as the CSV the finance folder shows. */
export function invoicesCsv(invoices: Invoice[]): string {
  const header = 'invoice_id,customer_id,amount,currency,issued,due,status';
  const rows = invoices.map((i) => [i.id, i.customer_id, i.amount.toFixed(2), i.currency, i.issued, i.due, i.status].join(','));
  return `${[header, ...rows].join('\n')}\n`;
}

/** A fresh, independent copy of the company's data. */
export function createDemoState(): DemoState {
  const modified = '2025-09-12T09:00:00Z';
  const files = new Map<string, DemoFile>([
    ['/docs/q3-plan.md', { content: Q3_PLAN, modified }],
    ['/docs/pricing.md', { content: PRICING, modified }],
    [INVOICES_CSV_PATH, { content: '', modified }],
    ['/notes/onboarding.md', { content: ONBOARDING, modified }],
    ['/notes/leadership-sync-2025-09-12.md', { content: MEETING_NOTES, modified }],
  ]);
  return {
    files,
    customers: CUSTOMERS.map((customer) => ({ ...customer })),
    invoices: INVOICES.map((invoice) => ({ ...invoice })),
    accounts: new Map(ACCOUNTS.map((account) => [account.id, { ...account }])),
    sequence: 0,
  };
}
