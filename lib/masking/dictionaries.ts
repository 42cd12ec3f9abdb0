/** Fake-data dictionaries. Small on purpose: masked values need to look plausible, not varied. */
export const FIRST_NAMES = [
  'Ada', 'Alan', 'Alice', 'Amara', 'Anna', 'Arjun', 'Ben', 'Bruno', 'Carla', 'Chen', 'Clara', 'Dan', 'Dara', 'Eli', 'Emma', 'Ezra',
  'Fatima', 'Felix', 'Grace', 'Hana', 'Hugo', 'Ines', 'Ivan', 'Jada', 'Jonas', 'Kai', 'Kofi', 'Lara', 'Leo', 'Lina', 'Luca', 'Maya',
  'Mei', 'Milo', 'Nadia', 'Nico', 'Noor', 'Olga', 'Omar', 'Paula', 'Priya', 'Quinn', 'Rafa', 'Rosa', 'Sami', 'Sara', 'Tariq', 'Tess',
  'Theo', 'Uma', 'Vera', 'Victor', 'Wen', 'Xavi', 'Yara', 'Yusuf', 'Zane', 'Zoe', 'Iris', 'Owen', 'Pia', 'Ravi', 'Sofia', 'Tomas',
];

export const LAST_NAMES = [
  'Abbott', 'Adeyemi', 'Bauer', 'Berg', 'Brooks', 'Castillo', 'Dahl', 'Dubois', 'Eriksen', 'Farrow', 'Fischer', 'Gallo', 'Hale', 'Haddad',
  'Ibarra', 'Ito', 'Jansen', 'Keller', 'Kowal', 'Lang', 'Lindqvist', 'Marsh', 'Moreau', 'Nakamura', 'Novak', 'Okafor', 'Olsen', 'Park',
  'Petrov', 'Quint', 'Reyes', 'Rossi', 'Sato', 'Schmidt', 'Silva', 'Stone', 'Tanaka', 'Torres', 'Ueda', 'Varga', 'Vogel', 'Walsh',
  'Weber', 'Xu', 'Yilmaz', 'Young', 'Zhang', 'Ziegler', 'Holm', 'Kaur', 'Lopez', 'Mendes', 'Nagy', 'Price', 'Ruiz', 'Shah',
  'Tran', 'Ward', 'Wood', 'Yates', 'Frost', 'Grant', 'Hayes', 'Irwin',
];

export const STREETS = [
  'Acacia Avenue', 'Birch Road', 'Cedar Lane', 'Chestnut Street', 'Elm Row', 'Fern Close', 'Harbour Way', 'Hazel Grove', 'Juniper Drive',
  'Larch Street', 'Linden Walk', 'Maple Court', 'Meadow Lane', 'Mill Road', 'Oak Street', 'Orchard Place', 'Pine Terrace', 'Quarry Hill',
  'River Road', 'Rowan Way', 'Sage Street', 'Station Road', 'Spruce Avenue', 'Willow Bank', 'Yew Lane', 'Aspen Row', 'Beacon Street',
  'Canal Street', 'Dock Road', 'Garden Walk', 'Hill View', 'Lake Drive',
];

export const CITIES = [
  'Ashford', 'Brookfield', 'Clearwater', 'Dunmore', 'Eastfield', 'Fairview', 'Glenwood', 'Harrow', 'Kingsbridge', 'Lakeside', 'Midvale',
  'Northwood', 'Oakham', 'Pinecrest', 'Queensbury', 'Riverton', 'Springfield', 'Stonebridge', 'Thornbury', 'Upton', 'Valemount',
  'Westbrook', 'Whitby', 'Yarrow', 'Ambleside', 'Bexley', 'Carrow', 'Denholm', 'Elmstead', 'Foxley', 'Greystone', 'Hollins',
];
